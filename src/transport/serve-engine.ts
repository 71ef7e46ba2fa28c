/**
 * The worker side of the worker transport: answers WorkerRequests on a port
 * with an engine it is given (it never builds its own, so tests can serve an
 * engine over a MessageChannel in Node, and the entry decides which engine).
 */
import { TesseraError } from '../errors.ts';
import { parseWorkerRequest, type WorkerRequest, type WorkerResponse } from '../protocol/worker-messages.ts';
import { transferablesOf } from '../protocol/tensor.ts';
import type { Engine, LoadOptions, ModelHandle } from '../engine/engine.ts';
import type { OcrPipeline } from '../engine/pipelines/pipeline.ts';
import { generatorInfoOf, type TextGenerator } from '../engine/generate/text-generator.ts';
import { serveRequests, type PortLike } from './rpc-server.ts';

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
  const generators = new Map<string, TextGenerator>();
  const post = (message: WorkerResponse, transfer: Transferable[] = []) => port.postMessage(message, transfer);

  /** The load options a model, pipeline or generator load carries across (progress posted back when the page listens). */
  const loadOptionsOf = (request: Extract<WorkerRequest, { type: 'load' | 'load-pipeline' | 'load-generator' }>, signal: AbortSignal): LoadOptions => ({
    device: request.device,
    cache: request.cache,
    ...(request.baseUrl === undefined ? {} : { baseUrl: request.baseUrl }),
    ...(request.prepack === undefined ? {} : { prepack: request.prepack }),
    ...('weights' in request && request.weights !== undefined ? { weights: request.weights } : {}),
    ...(request.progress ? { onProgress: (progress) => post({ type: 'progress', id: request.id, progress }) } : {}),
    signal,
  });

  async function handle(request: Exclude<WorkerRequest, { type: 'cancel' }>, signal: AbortSignal): Promise<void> {
    switch (request.type) {
      case 'load': {
        const model = await engine.load(request.source, loadOptionsOf(request, signal));
        models.set(model.id, model);
        const { id, manifest, device, deviceReason, weights, weightsReason, inputNames, outputNames, inputMetadata } = model;
        post({ type: 'loaded', id: request.id, model: { id, manifest, device, deviceReason, weights, weightsReason, inputNames, outputNames, inputMetadata } });
        return;
      }
      case 'run': {
        const outputs = await modelFor(request.model).run(request.feeds, { signal: signal });
        // Outputs are fresh buffers nobody here keeps: move them, do not copy.
        post({ type: 'result', id: request.id, outputs }, transferablesOf(outputs));
        return;
      }
      case 'load-pipeline': {
        const pipeline = await engine.loadPipeline(request.kind, request.source, loadOptionsOf(request, signal));
        pipelines.set(pipeline.id, pipeline);
        const { id, kind, manifest, device, deviceReason } = pipeline;
        post({ type: 'pipeline-loaded', id: request.id, pipeline: { id, kind, manifest, device, deviceReason } });
        return;
      }
      case 'recognize': {
        const pipeline = pipelines.get(request.pipeline);
        if (!pipeline) throw new TesseraError('session-closed', `pipeline ${request.pipeline} is not loaded in the engine worker (disposed?)`, { details: { id: request.pipeline } });
        const result = await pipeline.recognize(request.image, { ...request.options, signal: signal });
        post({ type: 'recognized', id: request.id, result });
        return;
      }
      case 'load-generator': {
        const generator = await engine.loadGenerator(request.source, {
          device: request.device,
          cache: request.cache,
          ...(request.baseUrl === undefined ? {} : { baseUrl: request.baseUrl }),
          ...(request.prepack === undefined ? {} : { prepack: request.prepack }),
          ...(request.dtype === undefined ? {} : { dtype: request.dtype }),
          ...(request.progress ? { onProgress: (progress) => post({ type: 'progress', id: request.id, progress }) } : {}),
          signal: signal,
        });
        generators.set(generator.id, generator);
        post({ type: 'generator-loaded', id: request.id, generator: generatorInfoOf(generator) });
        return;
      }
      case 'generate': {
        // Each chunk leaves as soon as it is decoded; a cancel aborts `signal`, which stops the loop within one step.
        const stream = generatorFor(request.generator).generate(request.request, {
          signal,
          onToken: (chunk) => post({ type: 'chunk', id: request.id, chunk }),
        });
        post({ type: 'generated', id: request.id, result: await stream.result });
        return;
      }
      case 'count-tokens': {
        post({ type: 'token-count', id: request.id, count: await generatorFor(request.generator).countTokens(request.input) });
        return;
      }
      case 'dispose': {
        const model = models.get(request.model) ?? pipelines.get(request.model) ?? generators.get(request.model);
        models.delete(request.model);
        pipelines.delete(request.model);
        generators.delete(request.model);
        await model?.dispose();
        post({ type: 'disposed', id: request.id });
        return;
      }
      default: {
        const unknown: never = request;
        throw new TesseraError('bad-request', `unhandled request ${JSON.stringify(unknown)}`);
      }
    }
  }

  function generatorFor(id: string): TextGenerator {
    const generator = generators.get(id);
    if (!generator) throw new TesseraError('session-closed', `generator ${id} is not loaded in the engine worker (disposed?)`, { details: { id } });
    return generator;
  }

  function modelFor(id: string): ModelHandle {
    const model = models.get(id);
    if (!model) throw new TesseraError('session-closed', `model ${id} is not loaded in the engine worker (disposed?)`, { details: { id } });
    return model;
  }

  return serveRequests(port, parseWorkerRequest, handle);
}
