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
import { TesseraError, fromErrorData, throwIfAborted } from '../../errors.ts';
import { isCacheSpec } from '../resolve-cache.ts';
import { parseHfWorkerResponse, type HfWorkerCacheSpec, type HfWorkerRequest, type HfWorkerResponse } from './hf-worker-messages.ts';
import type { WorkerLike } from '../../protocol/worker-like.ts';
import { resolveHfSource } from './hf-source.ts';
import type { HfPipeline, HfPipelineOptions } from './pipeline.ts';

/** How long an aborted load may take to settle its cache writes before its worker is ended. */
const ABORT_GRACE_MS = 2000;

interface Waiter {
  resolve(response: HfWorkerResponse): void;
  reject(error: unknown): void;
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
  const port = worker ?? (new Worker(new URL('./hf-worker.ts', import.meta.url), { type: 'module', name: 'tessera-hf-pipeline' }) as unknown as WorkerLike);
  const pending = new Map<number, Waiter>();
  let nextId = 1;
  let closed = false;
  let loadId = 0;

  const failAll = (error: unknown) => {
    for (const w of pending.values()) w.reject(error);
    pending.clear();
  };
  const onMessage = (event: Event) => {
    let response: HfWorkerResponse;
    try {
      response = parseHfWorkerResponse((event as MessageEvent).data);
    } catch (err) {
      failAll(err); // cannot tell whose reply it was: fail them all rather than hang
      return;
    }
    if (response.type === 'progress') {
      if (response.id === loadId) options.onProgress?.({ bytesFromNetwork: response.bytesFromNetwork, file: response.file });
      return;
    }
    if (response.type === 'error' && response.id === -1) return failAll(fromErrorData(response.error));
    const waiter = pending.get(response.id);
    pending.delete(response.id);
    if (!waiter) return;
    if (response.type === 'error') waiter.reject(fromErrorData(response.error));
    else waiter.resolve(response);
  };
  const onError = (event: Event) => {
    const message = (event as ErrorEvent).message || `worker ${event.type}`;
    failAll(new TesseraError('internal', `the HF pipeline worker failed: ${message}`));
  };
  port.addEventListener('message', onMessage);
  port.addEventListener('error', onError);
  port.addEventListener('messageerror', onError);
  port.start?.();

  const close = () => {
    if (closed) return;
    closed = true;
    port.removeEventListener('message', onMessage);
    port.removeEventListener('error', onError);
    port.removeEventListener('messageerror', onError);
    port.terminate?.();
    port.close?.();
    failAll(new TesseraError('session-closed', `the ${task} pipeline was disposed`));
  };

  const request = <T extends HfWorkerResponse['type']>(build: (id: number) => HfWorkerRequest): Promise<Extract<HfWorkerResponse, { type: T }>> => {
    if (closed) return Promise.reject(new TesseraError('session-closed', `the ${task} pipeline was disposed; load it again`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve: resolve as (r: HfWorkerResponse) => void, reject });
      try {
        port.postMessage(build(id), []);
      } catch (err) {
        pending.delete(id);
        reject(new TesseraError('invalid-argument', `cannot send this to the pipeline worker: ${(err as Error).message}`, { cause: err }));
      }
    });
  };

  const signal = options.signal;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    port.postMessage({ type: 'cancel', id: loadId } satisfies HfWorkerRequest, []);
    // The worker answers once the chunk writes under way have landed (so a
    // resume finds every chunk it downloaded); its error reply ends the load
    // and the worker. Past the grace period it is ended regardless.
    grace = setTimeout(close, ABORT_GRACE_MS);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let loaded: Extract<HfWorkerResponse, { type: 'loaded' }>;
  try {
    loaded = await request<'loaded'>((id) => {
      loadId = id;
      return {
        type: 'load',
        id,
        task,
        modelId,
        progress: options.onProgress !== undefined,
        options: {
          source,
          device: options.device ?? 'auto',
          cache,
          ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
          ...(options.prepack === undefined ? {} : { prepack: options.prepack }),
          ...(options.wasmPaths === undefined ? {} : { wasmPaths: options.wasmPaths }),
        },
      };
    });
  } catch (err) {
    close();
    if (signal?.aborted) throw new TesseraError('aborted', `loading the ${task} pipeline was aborted`, { cause: signal.reason });
    throw err;
  } finally {
    clearTimeout(grace);
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) {
    close(); // it finished loading before it saw the cancel
    throw new TesseraError('aborted', `loading the ${task} pipeline was aborted`, { cause: signal.reason });
  }
  const { info } = loaded;

  const call = async (input: string | string[], callOptions: Record<string, unknown> = {}) => {
    const reply = await request<'output'>((id) => ({ type: 'call', id, pipeline: info.pipeline, input, options: callOptions }));
    return { dims: reply.dims, data: reply.data };
  };
  return Object.assign(call, {
    task,
    modelId,
    device: info.device,
    reason: info.reason,
    stats: info.stats,
    async countTokens(texts: string[]) {
      return (await request<'tokens'>((id) => ({ type: 'count-tokens', id, pipeline: info.pipeline, texts }))).counts;
    },
    async dispose() {
      if (closed) return;
      await request<'disposed'>((id) => ({ type: 'dispose', id, pipeline: info.pipeline })).catch(() => {});
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
