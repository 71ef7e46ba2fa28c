/**
 * The worker side of HF pipelines: answers HfWorkerRequests on a port with
 * the pipelines a given loader makes (injected, so a test can serve a fake or
 * the real one over a MessageChannel, and the entry decides).
 */
import { TesseraError } from '../errors.ts';
import { serveRequests, type PortLike } from './rpc-server.ts';
import { parseHfWorkerRequest, type HfWorkerRequest, type HfWorkerResponse } from '../protocol/hf-worker-messages.ts';
import type { HfPipeline, HfPipelineOptions } from '../engine/hf/pipeline.ts';

export type HfPipelineLoader = (task: string, modelId: string, options: HfPipelineOptions) => Promise<HfPipeline>;

/**
 * Serves pipelines on `port` until the returned function is called.
 *
 * @example
 * // hf-worker.ts
 * serveHfPipelines(pipeline, self);
 */
export function serveHfPipelines(load: HfPipelineLoader, port: PortLike): () => void {
  const pipelines = new Map<number, HfPipeline>();
  let nextPipeline = 1;
  const post = (message: HfWorkerResponse, transfer: Transferable[] = []) => port.postMessage(message, transfer);

  async function handle(request: Exclude<HfWorkerRequest, { type: 'cancel' }>, signal: AbortSignal): Promise<void> {
    switch (request.type) {
      case 'load': {
        const { cache, ...rest } = request.options;
        const pipe = await load(request.task, request.modelId, {
          ...rest,
          cache,
          worker: false,
          signal,
          ...(request.progress ? { onProgress: (p) => post({ type: 'progress', id: request.id, bytesFromNetwork: p.bytesFromNetwork, file: p.file }) } : {}),
        });
        if (signal.aborted) {
          // Cancelled while transformers.js was building the session: nobody will use it.
          await pipe.dispose();
          throw new TesseraError('aborted', 'the pipeline load was cancelled by the page');
        }
        const id = nextPipeline++;
        pipelines.set(id, pipe);
        post({ type: 'loaded', id: request.id, info: { pipeline: id, device: pipe.device, reason: pipe.reason, stats: { ...pipe.stats, files: [...pipe.stats.files] }, weights: pipe.weights, weightsReason: pipe.weightsReason } });
        return;
      }
      case 'call': {
        const out = await pipelineFor(request.pipeline)(request.input, request.options);
        // A fresh buffer nobody here keeps: move it, do not copy.
        const data = out.data.byteOffset === 0 && out.data.byteLength === out.data.buffer.byteLength ? out.data : out.data.slice();
        post({ type: 'output', id: request.id, dims: out.dims, data }, [data.buffer as ArrayBuffer]);
        return;
      }
      case 'count-tokens':
        post({ type: 'tokens', id: request.id, counts: await pipelineFor(request.pipeline).countTokens(request.texts) });
        return;
      case 'dispose': {
        const pipe = pipelines.get(request.pipeline);
        pipelines.delete(request.pipeline);
        await pipe?.dispose();
        post({ type: 'disposed', id: request.id });
        return;
      }
      default: {
        const unknown: never = request;
        throw new TesseraError('bad-request', `unhandled request ${JSON.stringify(unknown)}`);
      }
    }
  }

  function pipelineFor(id: number): HfPipeline {
    const pipe = pipelines.get(id);
    if (!pipe) throw new TesseraError('session-closed', `pipeline ${id} is not loaded in the HF worker (disposed?)`, { details: { pipeline: id } });
    return pipe;
  }

  return serveRequests(port, parseHfWorkerRequest, handle);
}
