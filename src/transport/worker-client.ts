/**
 * The worker transport: an Engine whose sessions live in a dedicated Web
 * Worker, so loading (hashing, IndexedDB) and inference never block the page.
 * Same interface as the in-process engine; tensors cross as transferables,
 * errors as ErrorData rebuilt into TesseraErrors with their code.
 */
import type { Engine, LoadGeneratorOptions, LoadOptions, ModelHandle, ModelSource, RunOptions } from '../engine/engine.ts';
import { generationStream } from '../engine/generate/generation-stream.ts';
import type { TextGenerator } from '../engine/generate/text-generator.ts';
import type { ImageInput, OcrCallOptions, OcrPipeline, PipelineKind, PipelineOf } from '../engine/pipelines/pipeline.ts';
import type { OcrResult } from '../engine/ocr/types.ts';
import { isCacheSpec } from '../engine/resolve-cache.ts';
import { TesseraError } from '../errors.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import { transferablesOf, type TensorMap } from '../protocol/tensor.ts';
import {
  parseWorkerResponse,
  type WorkerGeneratorInfo,
  type WorkerModelInfo,
  type WorkerPipelineInfo,
  type WorkerRequest,
  type WorkerResponse,
} from '../protocol/worker-messages.ts';
import type { WorkerConstructorLike, WorkerLike } from '../protocol/worker-like.ts';
import { createRpcClient } from './rpc-client.ts';

export type { WorkerLike };

/** How long an aborted load may take to stop cleanly in the worker before the caller is answered. */
const LOAD_CANCEL_GRACE_MS = 2000;

export interface WorkerEngineOptions {
  /** A worker (or port) to use as is. The engine owns it: `dispose()` ends it; it is never restarted. */
  worker?: WorkerLike;
  /**
   * Starts the engine's own worker, on first use and again after an idle
   * restart. Default: a module Worker running src/transport/engine-worker.ts
   * (spawnEngineWorker, below). Tests hand in
   * their own to count starts and ends.
   */
  spawn?: () => WorkerLike;
  /**
   * Default true for the engine's own worker (never for one handed in): when
   * its last model, pipeline or generator is disposed and no request is in
   * flight, the worker is ended and the next load starts a fresh one. A wasm
   * heap can grow but never shrink, so a worker kept alive holds the largest
   * model it ever loaded: five load/dispose cycles grew the renderer by
   * 300 MiB on a 512 MiB model (bench:load). The cost: the next load starts
   * ORT's wasm again (its compiled code comes from the browser's cache).
   */
  restartWhenIdle?: boolean;
}


/**
 * Starts the engine's worker script (engine-worker.ts) with `Worker`, the
 * global one by default. The `new Worker(new URL('<literal>', import.meta.url))`
 * form is what Vite rewrites into the built worker's URL, whatever `Worker`
 * names here: a page of another origin passes a constructor that starts the
 * same built script from the host (page-engine.ts).
 *
 * @example
 * const worker = spawnEngineWorker(CrossOriginWorker);
 */
export function spawnEngineWorker(Worker: WorkerConstructorLike = globalThis.Worker as unknown as WorkerConstructorLike): WorkerLike {
  return new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'tessera-engine' });
}

/**
 * @example
 * const engine = createWorkerEngine();
 * const model = await engine.load('/models/mlp/manifest.json', { device: 'auto', onProgress: console.log });
 * console.log(model.device, model.deviceReason);
 * const { output } = await model.run({ input: { type: 'float32', dims: [1, 64], data } });
 */
export function createWorkerEngine(options: WorkerEngineOptions = {}): Engine {
  let worker: WorkerLike | undefined = options.worker;
  const spawn = options.spawn ?? (() => spawnEngineWorker());
  let closed = false;
  const handles = new Set<{ dispose(): Promise<void> }>();

  const rpc = createRpcClient<WorkerRequest, WorkerResponse>({
    name: 'the engine worker',
    parse: parseWorkerResponse,
    connect() {
      if (closed) throw new TesseraError('session-closed', 'this engine was disposed; create a new one');
      worker ??= spawn();
      return worker;
    },
  });

  /**
   * A load gets a moment to stop cleanly after an abort: chunks it already
   * downloaded are still being written to the cache, and letting those writes
   * land is what keeps the next load's refetch small. A model it finishes
   * anyway is disposed on arrival.
   */
  const loadCall = (signal: AbortSignal | undefined, onProgress: LoadOptions['onProgress']) => ({
    signal,
    graceMs: LOAD_CANCEL_GRACE_MS,
    ...(onProgress ? { onProgress: (event: { progress: LoadProgress }) => onProgress(event.progress) } : {}),
    onLateReply: (reply: { model: { id: string } } | { pipeline: { id: string } } | { generator: { id: string } }) => {
      const model = 'model' in reply ? reply.model.id : 'pipeline' in reply ? reply.pipeline.id : reply.generator.id;
      disposeInWorker(model).catch(() => {}); // the worker is gone or closing: nothing left to free

    },
  });

  const restarts = options.worker === undefined && options.restartWhenIdle !== false;
  /**
   * Ends our own worker, and its wasm heap with it, once it holds nothing
   * (see restartWhenIdle); the RPC client's next send connects to a fresh
   * one. Checked after each dispose's reply: a load still in flight (its
   * handle not made yet) or an abandoned request whose late reply is awaited
   * keeps the worker, and its own dispose checks again.
   */
  function restartIfIdle(): void {
    if (!restarts || !worker || closed || handles.size > 0 || rpc.inFlight() > 0) return;
    const idle = worker;
    worker = undefined;
    idle.terminate?.();
  }

  /** Disposes a model in the worker, then ends the worker if that was its last. */
  async function disposeInWorker(model: string): Promise<void> {
    await rpc.request<'disposed'>((id) => ({ type: 'dispose', id, model }), {});
    restartIfIdle();
  }

  function handleFor(info: WorkerModelInfo): ModelHandle {
    let disposed = false;
    const handle: ModelHandle = {
      ...info,
      async run(feeds: TensorMap, runOptions: RunOptions = {}) {
        if (disposed) throw new TesseraError('session-closed', `model ${info.id} was disposed; load it again to run it`);
        const reply = await rpc.request<'result'>((id) => ({ type: 'run', id, model: info.id, feeds }), {
          signal: runOptions.signal,
          transfer: runOptions.transfer ? transferablesOf(feeds) : [],
        });
        return reply.outputs;
      },
      async dispose() {
        if (disposed) return;
        disposed = true;
        handles.delete(handle);
        if (closed) return;
        await disposeInWorker(info.id);
      },
    };
    handles.add(handle);
    return handle;
  }

  /**
   * Chunks arrive as the worker decodes them. An abort (the caller's signal,
   * or leaving the iteration) sends `cancel` for the generate request and
   * waits for the worker's final reply, so the result says `abort` with the
   * real token counts, as in-process.
   */
  function generatorFor(info: WorkerGeneratorInfo): TextGenerator {
    let disposed = false;
    const closedError = () => new TesseraError('session-closed', `generator ${info.id} was disposed; load it again to generate`);
    const generator: TextGenerator = {
      ...info,
      generate(request, call = {}) {
        return generationStream(async (emit, signal) => {
          if (disposed) throw closedError();
          let requestId: number | undefined;
          const cancel = () => {
            if (requestId !== undefined) rpc.post(() => ({ type: 'cancel', id: requestId as number }));
          };
          // The request is built (and its id known) synchronously, before the listener is added.
          const reply = rpc.request<'generated'>(
            (id) => {
              requestId = id;
              return { type: 'generate', id, generator: info.id, request };
            },
            { onChunk: (event) => emit(event.chunk) },
          );
          signal.addEventListener('abort', cancel, { once: true });
          if (signal.aborted) cancel();
          try {
            return (await reply).result;
          } finally {
            signal.removeEventListener('abort', cancel);
          }
        }, call);
      },
      async countTokens(input) {
        if (disposed) throw closedError();
        const reply = await rpc.request<'token-count'>((id) => ({ type: 'count-tokens', id, generator: info.id, input: typeof input === 'string' ? input : [...input] }), {});
        return reply.count;
      },
      async dispose() {
        if (disposed) return;
        disposed = true;
        handles.delete(generator);
        if (closed) return;
        await disposeInWorker(info.id);
      },
    };
    handles.add(generator);
    return generator;
  }

  function pipelineFor(info: WorkerPipelineInfo): OcrPipeline {
    let disposed = false;
    const pipeline: OcrPipeline = {
      ...info,
      async recognize(image: ImageInput, call: OcrCallOptions = {}): Promise<OcrResult> {
        if (disposed) throw new TesseraError('session-closed', `pipeline ${info.id} was disposed; load it again to run it`);
        const options = {
          ...(call.classify === undefined ? {} : { classify: call.classify }),
          ...(call.dropScore === undefined ? {} : { dropScore: call.dropScore }),
        };
        const buffer = image instanceof Uint8Array ? image.buffer : image.data.buffer;
        const reply = await rpc.request<'recognized'>((id) => ({ type: 'recognize', id, pipeline: info.id, image, options }), {
          signal: call.signal,
          transfer: call.transfer && buffer instanceof ArrayBuffer ? [buffer] : [],
        });
        return reply.result as OcrResult;
      },
      async dispose() {
        if (disposed) return;
        disposed = true;
        handles.delete(pipeline);
        if (closed) return;
        await disposeInWorker(info.id);
      },
    };
    handles.add(pipeline);
    return pipeline;
  }

  /** The load fields shared by models and pipelines: cache as data, URLs made absolute. */
  function loadFields(source: ModelSource, loadOptions: LoadOptions) {
    const cache = loadOptions.cache ?? { type: 'default' };
    if (!isCacheSpec(cache)) {
      throw new TesseraError(
        'invalid-argument',
        "the worker transport takes the cache as data ({ type: 'default' | 'indexeddb' | 'memory' }): a ModelCache object cannot cross into the worker; use transport 'in-process' to pass one",
      );
    }
    // Relative URLs mean "relative to this page"; inside the worker they
    // would resolve against the worker's script URL instead.
    const pageUrl = (globalThis as { location?: { href?: string } }).location?.href;
    const baseUrl = loadOptions.baseUrl === undefined ? pageUrl : new URL(loadOptions.baseUrl, pageUrl).href;
    const absolute = typeof source === 'string' && (baseUrl !== undefined || URL.canParse(source)) ? new URL(source, baseUrl).href : source;
    return {
      source: absolute,
      device: loadOptions.device ?? 'auto',
      cache,
      ...(baseUrl === undefined ? {} : { baseUrl }),
      ...(loadOptions.prepack === undefined ? {} : { prepack: loadOptions.prepack }),
      ...(loadOptions.weights === undefined ? {} : { weights: loadOptions.weights }),
      progress: loadOptions.onProgress !== undefined,
    };
  }

  return {
    transport: 'worker',

    async load(source: ModelSource, loadOptions: LoadOptions = {}): Promise<ModelHandle> {
      const fields = loadFields(source, loadOptions);
      const reply = await rpc.request<'loaded'>((id) => ({ type: 'load', id, ...fields }), loadCall(loadOptions.signal, loadOptions.onProgress));
      return handleFor(reply.model);
    },

    async loadPipeline<K extends PipelineKind>(kind: K, source: ModelSource, loadOptions: LoadOptions = {}): Promise<PipelineOf[K]> {
      const fields = loadFields(source, loadOptions);
      const reply = await rpc.request<'pipeline-loaded'>((id) => ({ type: 'load-pipeline', id, kind, ...fields }), loadCall(loadOptions.signal, loadOptions.onProgress));
      return pipelineFor(reply.pipeline) as PipelineOf[K];
    },

    async loadGenerator(source: ModelSource, loadOptions: LoadGeneratorOptions = {}): Promise<TextGenerator> {
      const fields = loadFields(source, loadOptions);
      const reply = await rpc.request<'generator-loaded'>((id) => ({ type: 'load-generator', id, ...fields, ...(loadOptions.dtype === undefined ? {} : { dtype: loadOptions.dtype }) }), loadCall(loadOptions.signal, loadOptions.onProgress));
      return generatorFor(reply.generator);
    },

    async dispose() {
      if (closed) return;
      await Promise.allSettled([...handles].map((h) => h.dispose()));
      closed = true;
      rpc.close(new TesseraError('session-closed', 'the engine was disposed'));
      if (worker) {
        // The engine owns its worker, handed in or not: dispose ends it.
        worker.terminate?.();
        worker.close?.();
      }
    },
  };
}
