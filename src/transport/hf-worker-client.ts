/**
 * `pipeline(...)` in a page, by default: the pipeline lives in its own
 * dedicated Web Worker (hf-worker.ts), so downloading, hashing, IndexedDB
 * and inference never block the page. The returned object is called like the
 * in-process one; texts go in, embeddings come back as transferred buffers,
 * errors as ErrorData rebuilt into TesseraErrors with their code.
 *
 * One worker per pipeline: transformers.js keeps its settings and its
 * sessions in module globals, and ending the worker is the one sure way to
 * give all of its wasm memory back.
 */
import { TesseraError, throwIfAborted } from '../errors.ts';
import { isCacheSpec } from '../engine/resolve-cache.ts';
import { parseHfWorkerResponse, type HfWorkerCacheSpec, type HfWorkerRequest, type HfWorkerResponse } from '../protocol/hf-worker-messages.ts';
import type { WorkerConstructorLike, WorkerLike } from '../protocol/worker-like.ts';
import { resolveHfSource } from '../engine/hf/hf-source.ts';
import type { HfPipeline, HfPipelineOptions } from '../engine/hf/pipeline.ts';
import { createRpcClient } from './rpc-client.ts';

/** How long an aborted load may take to settle its cache writes before its worker is ended. */
const ABORT_GRACE_MS = 2000;

/**
 * Starts the pipeline worker script (hf-worker.ts) with `Worker`, the global
 * one by default; the `new Worker(new URL('<literal>', import.meta.url))` form
 * is what Vite rewrites into the built worker's URL (as spawnEngineWorker).
 *
 * @example
 * const port = spawnHfWorker(CrossOriginWorker);
 */
export function spawnHfWorker(Worker: WorkerConstructorLike = globalThis.Worker as unknown as WorkerConstructorLike): WorkerLike {
  return new Worker(new URL('./hf-worker.ts', import.meta.url), { type: 'module', name: 'tessera-hf-pipeline' });
}

/**
 * @example
 * const embed = await workerPipeline('feature-extraction', 'org/bert', { source: 'https://hub.example' });
 * const { dims, data } = await embed(['hello'], { pooling: 'mean', normalize: true });
 * await embed.dispose(); // ends the worker
 */
export async function workerPipeline(task: string, modelId: string, options: HfPipelineOptions, worker?: WorkerLike): Promise<HfPipeline> {
  throwIfAborted(options.signal);
  const cache = cacheSpecOf(options.cache);
  if (options.fetch) throw new TesseraError('invalid-argument', 'a custom fetch cannot cross into the pipeline worker; pass { worker: false } to run in-process with it');
  // Relative URLs mean "relative to this page"; in the worker they would resolve against its script.
  const source = resolveHfSource(options.source, modelId);
  const port = worker ?? spawnHfWorker();
  let closed = false;
  const rpc = createRpcClient<HfWorkerRequest, HfWorkerResponse>({
    name: 'the HF pipeline worker',
    parse: parseHfWorkerResponse,
    connect() {
      if (closed) throw new TesseraError('session-closed', `the ${task} pipeline was disposed; load it again`);
      return port;
    },
  });
  rpc.listen();

  const close = () => {
    if (closed) return;
    closed = true;
    rpc.close(new TesseraError('session-closed', `the ${task} pipeline was disposed`));
    port.terminate?.();
    port.close?.();
  };

  const signal = options.signal;
  const onProgress = options.onProgress;
  let loaded: Extract<HfWorkerResponse, { type: 'loaded' }>;
  try {
    // On abort the worker answers once the chunk writes under way have landed
    // (so a resume finds every chunk it downloaded); past the grace period the
    // load is answered `aborted` regardless, and the worker ended below.
    loaded = await rpc.request<'loaded'>(
      (id) => ({
        type: 'load',
        id,
        task,
        modelId,
        progress: onProgress !== undefined,
        options: {
          source,
          device: options.device ?? 'auto',
          cache,
          ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
          ...(options.prepack === undefined ? {} : { prepack: options.prepack }),
          ...(options.wasmPaths === undefined ? {} : { wasmPaths: options.wasmPaths }),
          ...(options.weights === undefined ? {} : { weights: options.weights }),
        },
      }),
      {
        signal,
        graceMs: ABORT_GRACE_MS,
        ...(onProgress ? { onProgress: (p: { bytesFromNetwork: number; file: string }) => onProgress({ bytesFromNetwork: p.bytesFromNetwork, file: p.file }) } : {}),
      },
    );
  } catch (err) {
    close();
    if (signal?.aborted) throw new TesseraError('aborted', `loading the ${task} pipeline was aborted`, { cause: signal.reason });
    throw err;
  }
  if (signal?.aborted) {
    close(); // it finished loading before it saw the cancel
    throw new TesseraError('aborted', `loading the ${task} pipeline was aborted`, { cause: signal.reason });
  }
  const { info } = loaded;

  const call = async (input: string | string[], callOptions: Record<string, unknown> = {}) => {
    const reply = await rpc.request<'output'>((id) => ({ type: 'call', id, pipeline: info.pipeline, input, options: callOptions }));
    return { dims: reply.dims, data: reply.data };
  };
  return Object.assign(call, {
    task,
    modelId,
    device: info.device,
    reason: info.reason,
    stats: info.stats,
    weights: info.weights,
    weightsReason: info.weightsReason,
    async countTokens(texts: string[]) {
      return (await rpc.request<'tokens'>((id) => ({ type: 'count-tokens', id, pipeline: info.pipeline, texts }))).counts;
    },
    async dispose() {
      if (closed) return;
      await rpc.request<'disposed'>((id) => ({ type: 'dispose', id, pipeline: info.pipeline })).catch(() => {});
      close();
    },
  });
}

function cacheSpecOf(cache: HfPipelineOptions['cache']): HfWorkerCacheSpec {
  if (cache === undefined) return { type: 'default' };
  if (!isCacheSpec(cache)) {
    throw new TesseraError('invalid-argument', "the pipeline worker takes the cache as data ({ type: 'default' | 'indexeddb' | 'memory' }): a ModelCache object cannot cross into it; pass { worker: false } to use one");
  }
  if (cache.type === 'fs') throw new TesseraError('invalid-argument', "cache 'fs' is for Node; in a page use 'indexeddb' or 'default'");
  return cache;
}
