/**
 * A Node engine in a worker_threads Worker: the worker transport's Engine
 * (createWorkerEngine, the same protocol as the browser's engine worker) on
 * one end of a MessageChannel, with src/engine/node-engine-worker.ts serving
 * the other end. Node only. The thread that calls this never runs a model, so
 * its event loop (a coordinator socket, heartbeats) stays free while the
 * worker computes; a stuck worker can be ended with `terminate()`.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Engine } from '../engine/engine.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';
import { createWorkerEngine } from './worker-client.ts';

export interface NodeEngineWorkerOptions {
  /** Intra-op threads of native CPU sessions in the worker (default: the machine's cores). */
  threads?: number;
}

export interface NodeEngineWorker {
  engine: Engine;
  /** Ends the worker at once, even mid-run (what a stuck computation needs). Pending calls on `engine` never settle: the caller fails them. */
  terminate(): Promise<void>;
  /** Called once if the worker exits by itself (a crash, an out-of-memory abort), not after terminate(). */
  onExit(listener: (why: string) => void): void;
}

/**
 * @example
 * const { engine, terminate } = spawnNodeEngineWorker({ threads: 2 });
 * const ocr = await engine.loadPipeline('ocr', manifestUrl, { device: 'cpu' });
 * await terminate();
 */
export function spawnNodeEngineWorker(options: NodeEngineWorkerOptions = {}): NodeEngineWorker {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('../engine/node-engine-worker.ts', import.meta.url), {
    workerData: { port: port2, ...(options.threads === undefined ? {} : { threads: options.threads }) },
    transferList: [port2],
    name: 'tessera-engine',
  });
  let ended = false;
  let exitListener: ((why: string) => void) | undefined;
  worker.once('error', (err) => {
    if (ended) return;
    ended = true;
    exitListener?.(`the engine worker failed: ${err.message}`);
  });
  worker.once('exit', (code) => {
    port1.close();
    if (ended) return;
    ended = true;
    exitListener?.(`the engine worker exited with code ${code}`);
  });
  // Node's MessagePort is an EventTarget with postMessage/start/close: it fits WorkerLike as is.
  const engine = createWorkerEngine({ worker: port1 as unknown as WorkerLike });
  return {
    engine,
    async terminate() {
      ended = true;
      port1.close();
      await worker.terminate();
    },
    onExit(listener) {
      exitListener = listener;
    },
  };
}
