/**
 * The worker side of the worker transport: answers WorkerRequests on a port
 * with an engine it is given (it never builds its own, so tests can serve an
 * engine over a MessageChannel in Node, and the entry decides which engine).
 */
import { TesseraError, toErrorData } from '../errors.ts';
import { parseWorkerRequest, type WorkerRequest, type WorkerResponse } from '../protocol/worker-messages.ts';
import { transferablesOf } from '../protocol/tensor.ts';
import type { Engine, ModelHandle } from './engine.ts';
import type { OcrPipeline } from './pipelines/pipeline.ts';

/** A Worker's global scope, a MessagePort, or anything with the same three methods. */
export interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  /** MessagePorts deliver nothing to addEventListener listeners until started. */
  start?(): void;
}

/**
 * Serves `engine` on `port` until the returned function is called.
 *
 * @example
 * // engine-worker.ts
 * serveEngine(createInProcessEngine(), self);
 */
export function serveEngine(engine: Engine, port: PortLike): () => void {
  const models = new Map<string, ModelHandle>();
  const pipelines = new Map<string, OcrPipeline>();
  const inFlight = new Map<number, AbortController>();
  const post = (message: WorkerResponse, transfer: Transferable[] = []) => port.postMessage(message, transfer);

  async function handle(request: WorkerRequest): Promise<void> {
    switch (request.type) {
      case 'load': {
        const controller = track(request.id);
        const model = await engine.load(request.source, {
          device: request.device,
          cache: request.cache,
          ...(request.baseUrl === undefined ? {} : { baseUrl: request.baseUrl }),
          ...(request.progress ? { onProgress: (progress) => post({ type: 'progress', id: request.id, progress }) } : {}),
          signal: controller.signal,
        });
        models.set(model.id, model);
        const { id, manifest, device, deviceReason, inputNames, outputNames, inputMetadata } = model;
        post({ type: 'loaded', id: request.id, model: { id, manifest, device, deviceReason, inputNames, outputNames, inputMetadata } });
        return;
      }
      case 'run': {
        const controller = track(request.id);
        const outputs = await modelFor(request.model).run(request.feeds, { signal: controller.signal });
        // Outputs are fresh buffers nobody here keeps: move them, do not copy.
        post({ type: 'result', id: request.id, outputs }, transferablesOf(outputs));
        return;
      }
      case 'load-pipeline': {
        const controller = track(request.id);
        const pipeline = await engine.loadPipeline(request.kind, request.source, {
          device: request.device,
          cache: request.cache,
          ...(request.baseUrl === undefined ? {} : { baseUrl: request.baseUrl }),
          ...(request.progress ? { onProgress: (progress) => post({ type: 'progress', id: request.id, progress }) } : {}),
          signal: controller.signal,
        });
        pipelines.set(pipeline.id, pipeline);
        const { id, kind, manifest, device, deviceReason } = pipeline;
        post({ type: 'pipeline-loaded', id: request.id, pipeline: { id, kind, manifest, device, deviceReason } });
        return;
      }
      case 'recognize': {
        const controller = track(request.id);
        const pipeline = pipelines.get(request.pipeline);
        if (!pipeline) throw new TesseraError('session-closed', `pipeline ${request.pipeline} is not loaded in the engine worker (disposed?)`, { details: { id: request.pipeline } });
        const result = await pipeline.recognize(request.image, { ...request.options, signal: controller.signal });
        post({ type: 'recognized', id: request.id, result });
        return;
      }
      case 'dispose': {
        const model = models.get(request.model) ?? pipelines.get(request.model);
        models.delete(request.model);
        pipelines.delete(request.model);
        await model?.dispose();
        post({ type: 'disposed', id: request.id });
        return;
      }
      case 'cancel':
        inFlight.get(request.id)?.abort(new TesseraError('aborted', 'cancelled by the page'));
        return;
      default: {
        const unknown: never = request;
        throw new TesseraError('bad-request', `unhandled request ${JSON.stringify(unknown)}`);
      }
    }
  }

  function track(id: number): AbortController {
    const controller = new AbortController();
    inFlight.set(id, controller);
    return controller;
  }

  function modelFor(id: string): ModelHandle {
    const model = models.get(id);
    if (!model) throw new TesseraError('session-closed', `model ${id} is not loaded in the engine worker (disposed?)`, { details: { id } });
    return model;
  }

  const onMessage = (event: MessageEvent) => {
    const id = (event.data as { id?: unknown } | null)?.id;
    const replyId = typeof id === 'number' && Number.isInteger(id) ? id : -1;
    let request: WorkerRequest;
    try {
      request = parseWorkerRequest(event.data);
    } catch (err) {
      post({ type: 'error', id: replyId, error: toErrorData(err) });
      return;
    }
    handle(request)
      .catch((err: unknown) => post({ type: 'error', id: request.id, error: toErrorData(err) }))
      .finally(() => {
        if (request.type !== 'cancel') inFlight.delete(request.id);
      });
  };

  port.addEventListener('message', onMessage);
  port.start?.();
  return () => port.removeEventListener('message', onMessage);
}
