/**
 * A module Worker that runs a script of another origin: what embed.js needs
 * on a page that is not the host's, where `new Worker(url)` refuses the
 * host's script. The worker starts from a two-line module of the page's own
 * origin (a `blob:` URL) that imports the host's script and then says so:
 *
 * - the import is a CORS fetch (the host serves its static assets with
 *   `Access-Control-Allow-Origin: *`, public/_headers);
 * - the script keeps the host's `import.meta.url` (the worker bundle is an
 *   ES module, vite.config.ts `worker.format`), so what it loads beside
 *   itself, ONNX Runtime's glue and wasm, still comes from the host;
 * - the worker's origin is the page's, so its IndexedDB is the same cache an
 *   in-process load on that page uses.
 *
 * A page's Content-Security-Policy may refuse a `blob:` worker (`worker-src`,
 * or `script-src` without it) or the import; Chromium then fires an `error`
 * event with no detail (an older engine may throw from the constructor).
 * `started` settles either way, so the caller can fall back to running in
 * the page and say why.
 */
import { TesseraError } from '../errors.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';

/** What the bootstrap posts once the host's script has run; never an RPC message (those are objects). */
const STARTED = 'tessera:worker-started';

type Listener = (event: Event) => void;

/**
 * @example
 * const worker = new CrossOriginWorker(new URL('https://host.example/assets/engine-worker.js'), { name: 'tessera-engine' });
 * await worker.started; // rejects with why (CSP, CORS) if it cannot run
 */
export class CrossOriginWorker implements WorkerLike {
  /** Resolves once the host's script has run in the worker; rejects with a `TesseraError` saying why it could not. */
  readonly started: Promise<void>;
  readonly #worker: Worker;
  readonly #wrapped = new Map<Listener, Listener>();

  constructor(script: URL | string, options: WorkerOptions = {}) {
    const href = new URL(script, globalThis.location?.href).href;
    const source = `import ${JSON.stringify(href)};\npostMessage(${JSON.stringify(STARTED)});\n`;
    const bootstrap = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    try {
      // The blob's entry is taken when the worker is constructed: revoking it at once is safe.
      this.#worker = new Worker(bootstrap, { ...options, type: 'module' });
    } catch (error) {
      throw refused(href, error instanceof Error ? error.message : String(error));
    } finally {
      URL.revokeObjectURL(bootstrap);
    }
    this.started = new Promise<void>((resolve, reject) => {
      const done = () => {
        this.#worker.removeEventListener('message', onMessage);
        this.#worker.removeEventListener('error', onError);
      };
      const onMessage = (event: MessageEvent) => {
        if (event.data !== STARTED) return;
        done();
        resolve();
      };
      const onError = (event: Event) => {
        done();
        reject(refused(href, (event as ErrorEvent).message || 'the worker fired an error event before the script ran'));
      };
      this.#worker.addEventListener('message', onMessage);
      this.#worker.addEventListener('error', onError);
    });
    // Nobody may wait on it (a restart spawns without waiting): its failure reaches the RPC client as the worker's error event.
    this.started.catch(() => {});
  }

  postMessage(message: unknown, transfer: Transferable[]): void {
    this.#worker.postMessage(message, transfer);
  }

  addEventListener(type: 'message' | 'error' | 'messageerror', listener: Listener): void {
    // The start signal is the bootstrap's, not the script's: keep it from the script's listeners.
    const wrapped: Listener = type === 'message' ? (event) => (event as MessageEvent).data !== STARTED && listener(event) : listener;
    this.#wrapped.set(listener, wrapped);
    this.#worker.addEventListener(type, wrapped);
  }

  removeEventListener(type: 'message' | 'error' | 'messageerror', listener: Listener): void {
    this.#worker.removeEventListener(type, this.#wrapped.get(listener) ?? listener);
    this.#wrapped.delete(listener);
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/**
 * Waits for `worker.started`, at most `timeoutMs` (the script is large and
 * may be slow to arrive, but a page must not wait forever for a worker that
 * never reports): past it the worker is ended and the wait rejects.
 *
 * @example
 * const worker = await startedWithin(new CrossOriginWorker(url), 30_000);
 */
export async function startedWithin(worker: CrossOriginWorker, timeoutMs: number): Promise<CrossOriginWorker> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TesseraError('timeout', `the worker did not start within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([worker.started, timeout]);
    return worker;
  } catch (error) {
    worker.terminate();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function refused(href: string, why: string): TesseraError {
  return new TesseraError(
    'unavailable',
    `a worker running ${href} could not start on this page (${why}): the page's Content-Security-Policy must allow blob: workers (worker-src) and the host's scripts (script-src), and the host must serve them with CORS`,
    { details: { script: href } },
  );
}
