/**
 * A Node engine in a child process: the worker transport's Engine
 * (createWorkerEngine, the same protocol as the browser's engine worker) over
 * the IPC channel of a process running node-engine-process.ts.
 * Node only. The process that calls this never runs a model, so its event
 * loop (a coordinator socket, heartbeats) stays free while the child computes,
 * and a stuck child is ended with SIGKILL (see node-engine-process.ts for why
 * not a worker_threads Worker).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/engine.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';
import { createWorkerEngine } from './worker-client.ts';

export interface NodeEngineProcessOptions {
  /** Intra-op threads of native CPU sessions in the child (default: the machine's cores). */
  threads?: number;
}

export interface NodeEngineProcess {
  engine: Engine;
  /** Kills the child at once, even mid-run. Pending calls on `engine` never settle: the caller fails them. */
  terminate(): Promise<void>;
  /** Called once if the child exits by itself (a crash, out of memory), not after terminate(). */
  onExit(listener: (why: string) => void): void;
}

/**
 * @example
 * const { engine, terminate } = spawnNodeEngineProcess({ threads: 2 });
 * const ocr = await engine.loadPipeline('ocr', manifestUrl, { device: 'cpu' });
 * await terminate();
 */
export function spawnNodeEngineProcess(options: NodeEngineProcessOptions = {}): NodeEngineProcess {
  const child = fork(fileURLToPath(new URL('./node-engine-process.ts', import.meta.url)), [], {
    serialization: 'advanced',
    // Not the parent's flags (a test runner's loaders): the entry is plain TypeScript Node runs as is.
    execArgv: [],
    env: { ...process.env, ...(options.threads === undefined ? {} : { TESSERA_ENGINE_THREADS: String(options.threads) }) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let ended = false;
  let exitListener: ((why: string) => void) | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (ended) return;
    ended = true;
    exitListener?.(`the engine process exited (${signal ?? `code ${code}`})`);
  });
  child.once('error', (err) => {
    if (ended) return;
    ended = true;
    exitListener?.(`the engine process failed: ${err.message}`);
  });

  const listeners = new Map<(event: Event) => void, (data: unknown) => void>();
  const port: WorkerLike = {
    postMessage: (message) => {
      if (child.connected) child.send(message as never);
    },
    addEventListener: (type, listener) => {
      if (type !== 'message') return;
      const onData = (data: unknown) => listener({ data } as MessageEvent);
      listeners.set(listener, onData);
      child.on('message', onData);
    },
    removeEventListener: (type, listener) => {
      const onData = listeners.get(listener);
      if (type !== 'message' || !onData) return;
      child.off('message', onData);
      listeners.delete(listener);
    },
  };
  return {
    engine: createWorkerEngine({ worker: port }),
    async terminate() {
      ended = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    onExit(listener) {
      exitListener = listener;
    },
  };
}
