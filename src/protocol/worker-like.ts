/**
 * What a worker transport talks to: a dedicated Worker, or one end of a
 * MessageChannel (tests serve an engine or pipelines on the other end).
 */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message' | 'error' | 'messageerror', listener: (event: Event) => void): void;
  removeEventListener(type: 'message' | 'error' | 'messageerror', listener: (event: Event) => void): void;
  start?(): void;
  terminate?(): void;
  close?(): void;
}

/** Something built like `Worker`: the page's own, or one that starts a script of another origin (transport/cross-origin-worker.ts). */
export type WorkerConstructorLike = new (script: URL, options: WorkerOptions) => WorkerLike;
