/**
 * The one way in: an Engine on the transport that suits the runtime. Both
 * transports are imported on demand, so a page that uses the worker never
 * downloads onnxruntime-web into its main thread (only the worker does), and
 * Node never loads the Worker client.
 */
import { importNodeOnly } from '../backend/node-only.ts';
import { TesseraError } from '../errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';

export interface CreateEngineOptions {
  /**
   * `worker`: sessions in a dedicated Web Worker (default in a browser page).
   * `in-process`: sessions in this realm (default in Node, in workers, and
   * wherever `Worker` is missing).
   */
  transport?: 'worker' | 'in-process';
  /** Worker transport only: the worker (or MessagePort) to talk to instead of spawning one. */
  worker?: WorkerLike;
  /**
   * Worker transport, own worker only (default true): end the worker when its
   * last model is disposed, so its wasm heap goes with it; the next load starts
   * a fresh one.
   */
  restartWhenIdle?: boolean;
  /** Node, in-process: intra-op threads of native CPU sessions (default: the machine's cores). */
  threads?: number;
}

/**
 * @example
 * const engine = await createEngine();
 * const model = await engine.load('https://models.example/mlp/manifest.json', { device: 'auto' });
 * console.log(model.device, model.deviceReason);
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const transport = options.transport ?? defaultTransport();
  switch (transport) {
    case 'worker': {
      const { createWorkerEngine } = await import('./worker-client.ts');
      return createWorkerEngine({
        ...(options.worker ? { worker: options.worker } : {}),
        ...(options.restartWhenIdle === undefined ? {} : { restartWhenIdle: options.restartWhenIdle }),
      });
    }
    case 'in-process': {
      const { createInProcessEngine } = await import('../engine/in-process-engine.ts');
      // In Node, onnxruntime-node for cpu/auto/GPU providers, onnxruntime-web for wasm.
      if (isNode()) return createInProcessEngine({ createSession: (await importNodeOnly('./node-session.ts')).nodeSessionFactory(options.threads === undefined ? {} : { threads: options.threads }) });
      return createInProcessEngine();
    }
    default: {
      const unknown: never = transport;
      throw new TesseraError('invalid-argument', `unknown transport ${JSON.stringify(unknown)}; use 'worker' or 'in-process'`);
    }
  }
}

function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: unknown } }; window?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.window === undefined;
}

/** A browser page gets a worker; everything else (Node, a worker itself, workerd) runs in-process. */
function defaultTransport(): 'worker' | 'in-process' {
  const g = globalThis as { window?: unknown; Worker?: unknown };
  return typeof g.window === 'object' && typeof g.Worker === 'function' ? 'worker' : 'in-process';
}
