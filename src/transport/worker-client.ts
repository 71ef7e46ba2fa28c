/**
 * The worker transport: an Engine whose sessions live in a dedicated Web
 * Worker, so loading (hashing, IndexedDB) and inference never block the page.
 * Same interface as the in-process engine; tensors cross as transferables,
 * errors as ErrorData rebuilt into TesseraErrors with their code.
 */
import type { Engine, LoadOptions, ModelHandle, ModelSource, RunOptions } from '../engine/engine.ts';
import type { ImageInput, OcrCallOptions, OcrPipeline, PipelineKind, PipelineOf } from '../engine/pipelines/pipeline.ts';
import type { OcrResult } from '../engine/ocr/types.ts';
import { isCacheSpec } from '../engine/resolve-cache.ts';
import { TesseraError, fromErrorData, throwIfAborted } from '../errors.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import { transferablesOf, type TensorMap } from '../protocol/tensor.ts';
import {
  parseWorkerResponse,
  type WorkerModelInfo,
  type WorkerPipelineInfo,
  type WorkerRequest,
  type WorkerResponse,
} from '../protocol/worker-messages.ts';

import type { WorkerLike } from '../protocol/worker-like.ts';

export type { WorkerLike };

/** How long an aborted load may take to stop cleanly in the worker before the caller is answered. */
const LOAD_CANCEL_GRACE_MS = 2000;

export interface WorkerEngineOptions {
  /** Defaults to a new module Worker running src/engine/engine-worker.ts, created on first use. The engine owns it: `dispose()` ends it. */
  worker?: WorkerLike;
}

interface Pending {
  resolve(response: WorkerResponse): void;
  reject(error: unknown): void;
  onProgress?: ((progress: LoadProgress) => void) | undefined;
}

/** Posts `type: 'loaded'` | `'result'` | `'disposed'` replies to whoever waits on their id. */
type Reply<T extends WorkerResponse['type']> = Extract<WorkerResponse, { type: T }>;

/**
 * @example
 * const engine = createWorkerEngine();
 * const model = await engine.load('/models/mlp/manifest.json', { device: 'auto', onProgress: console.log });
 * console.log(model.device, model.deviceReason);
 * const { output } = await model.run({ input: { type: 'float32', dims: [1, 64], data } });
 */
export function createWorkerEngine(options: WorkerEngineOptions = {}): Engine {
  let worker: WorkerLike | undefined = options.worker;
  let nextId = 1;
  let closed = false;
  const pending = new Map<number, Pending>();
  const handles = new Set<{ dispose(): Promise<void> }>();
  /** Loads cancelled on this side that the worker may still finish: their models are disposed on arrival. */
  const abandoned = new Set<number>();

  function connect(): WorkerLike {
    if (closed) throw new TesseraError('session-closed', 'this engine was disposed; create a new one');
    if (!worker) {
      worker = new Worker(new URL('../engine/engine-worker.ts', import.meta.url), { type: 'module', name: 'tessera-engine' }) as unknown as WorkerLike;
    }
    if (!listening) {
      worker.addEventListener('message', onMessage);
      worker.addEventListener('error', onError);
      worker.addEventListener('messageerror', onError);
      worker.start?.();
      listening = true;
    }
    return worker;
  }
  let listening = false;

  function onMessage(event: Event): void {
    let response: WorkerResponse;
    try {
      response = parseWorkerResponse((event as MessageEvent).data);
    } catch (err) {
      // A reply we cannot read cannot be matched to its caller; fail them all
      // rather than leave them waiting forever.
      failAll(err);
      return;
    }
    const waiter = pending.get(response.id);
    switch (response.type) {
      case 'progress':
        waiter?.onProgress?.(response.progress);
        return;
      case 'loaded':
        if (!waiter && abandoned.delete(response.id)) {
          // Cancelled here after the worker had already finished the load.
          post({ type: 'dispose', id: nextId++, model: response.model.id });
          return;
        }
        break;
      case 'pipeline-loaded':
        if (!waiter && abandoned.delete(response.id)) {
          post({ type: 'dispose', id: nextId++, model: response.pipeline.id });
          return;
        }
        break;
      case 'result':
      case 'disposed':
      case 'recognized':
        break;
      case 'error':
        abandoned.delete(response.id);
        if (response.id === -1 && !waiter) {
          failAll(fromErrorData(response.error));
          return;
        }
        pending.delete(response.id);
        waiter?.reject(fromErrorData(response.error));
        return;
      default: {
        const unknown: never = response;
        failAll(new TesseraError('internal', `unhandled worker response ${JSON.stringify(unknown)}`));
        return;
      }
    }
    pending.delete(response.id);
    waiter?.resolve(response);
  }

  function onError(event: Event): void {
    const message = (event as ErrorEvent).message || `worker ${event.type}`;
    failAll(new TesseraError('internal', `the engine worker failed: ${message}`));
  }

  function failAll(error: unknown): void {
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  }

  function post(request: WorkerRequest, transfer: Transferable[] = []): void {
    connect().postMessage(request, transfer);
  }

  /** Sends a request and waits for its reply; an abort sends `cancel` and rejects (a load within LOAD_CANCEL_GRACE_MS). */
  function request<T extends WorkerResponse['type']>(
    build: (id: number) => WorkerRequest,
    options: { signal?: AbortSignal | undefined; transfer?: Transferable[]; onProgress?: ((p: LoadProgress) => void) | undefined },
  ): Promise<Reply<T>> {
    throwIfAborted(options.signal);
    const id = nextId++;
    const message = build(id);
    return new Promise<Reply<T>>((resolve, reject) => {
      const signal = options.signal;
      const onAbort = () => {
        if (!pending.has(id)) return;
        post({ type: 'cancel', id });
        const aborted = new TesseraError('aborted', `${message.type} was aborted`, { cause: signal?.reason });
        if (message.type !== 'load' && message.type !== 'load-pipeline') {
          pending.delete(id);
          cleanup();
          reject(aborted);
          return;
        }
        // A load gets a moment to stop cleanly: chunks it already downloaded are
        // still being written to the cache, and letting those writes land is what
        // keeps the next load's refetch small. Bounded, so an abort stays prompt.
        const timer = setTimeout(() => {
          if (!pending.delete(id)) return;
          abandoned.add(id); // a late 'loaded' is disposed on arrival
          cleanup();
          reject(aborted);
        }, LOAD_CANCEL_GRACE_MS);
        pending.set(id, {
          onProgress: undefined,
          resolve: (reply) => {
            // It finished before the cancel arrived: release what it loaded.
            clearTimeout(timer);
            const loaded = reply as { model?: { id: string }; pipeline?: { id: string } };
            const modelId = loaded.model?.id ?? loaded.pipeline?.id;
            if (modelId !== undefined) post({ type: 'dispose', id: nextId++, model: modelId });
            cleanup();
            reject(aborted);
          },
          reject: () => {
            clearTimeout(timer);
            cleanup();
            reject(aborted);
          },
        });
      };
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      pending.set(id, {
        resolve: (r) => {
          cleanup();
          resolve(r as Reply<T>);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
        onProgress: options.onProgress,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        post(message, options.transfer ?? []);
      } catch (err) {
        pending.delete(id);
        cleanup();
        // DataCloneError: something in the message cannot cross (a function, a ModelCache).
        reject(err instanceof TesseraError ? err : new TesseraError('invalid-argument', `cannot send ${message.type} to the engine worker: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  function handleFor(info: WorkerModelInfo): ModelHandle {
    let disposed = false;
    const handle: ModelHandle = {
      ...info,
      async run(feeds: TensorMap, runOptions: RunOptions = {}) {
        if (disposed) throw new TesseraError('session-closed', `model ${info.id} was disposed; load it again to run it`);
        const reply = await request<'result'>((id) => ({ type: 'run', id, model: info.id, feeds }), {
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
        await request<'disposed'>((id) => ({ type: 'dispose', id, model: info.id }), {});
      },
    };
    handles.add(handle);
    return handle;
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
        const reply = await request<'recognized'>((id) => ({ type: 'recognize', id, pipeline: info.id, image, options }), {
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
        await request<'disposed'>((id) => ({ type: 'dispose', id, model: info.id }), {});
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
      progress: loadOptions.onProgress !== undefined,
    };
  }

  return {
    transport: 'worker',

    async load(source: ModelSource, loadOptions: LoadOptions = {}): Promise<ModelHandle> {
      const fields = loadFields(source, loadOptions);
      const reply = await request<'loaded'>((id) => ({ type: 'load', id, ...fields }), { signal: loadOptions.signal, onProgress: loadOptions.onProgress });
      return handleFor(reply.model);
    },

    async loadPipeline<K extends PipelineKind>(kind: K, source: ModelSource, loadOptions: LoadOptions = {}): Promise<PipelineOf[K]> {
      const fields = loadFields(source, loadOptions);
      const reply = await request<'pipeline-loaded'>((id) => ({ type: 'load-pipeline', id, kind, ...fields }), {
        signal: loadOptions.signal,
        onProgress: loadOptions.onProgress,
      });
      return pipelineFor(reply.pipeline) as PipelineOf[K];
    },

    async dispose() {
      if (closed) return;
      await Promise.allSettled([...handles].map((h) => h.dispose()));
      closed = true;
      failAll(new TesseraError('session-closed', 'the engine was disposed'));
      if (worker) {
        worker.removeEventListener('message', onMessage);
        worker.removeEventListener('error', onError);
        worker.removeEventListener('messageerror', onError);
        // The engine owns its worker, handed in or not: dispose ends it.
        worker.terminate?.();
        worker.close?.();
      }
    },
  };
}
