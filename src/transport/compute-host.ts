/**
 * Compute off the session's thread, bounded in time. A session's socket and
 * heartbeats live on one thread; its models run in an engine worker (in Node a child process) the host
 * owns. Each batch gets a compute deadline: when it passes, the batch fails
 * with `timeout`, the worker is terminated (ORT cannot stop a run midway, and
 * a worker stuck in one would hold a core forever), and a fresh worker loads
 * the same models again (from the local cache). Batches that were running
 * beside the stuck one fail with `unavailable`, to be retried elsewhere; batches
 * sent while the replacement loads wait for it. A worker that dies by itself is
 * replaced the same way. The deadline counts from when the batch is handed to
 * the worker, so with maxInFlight > 1 it includes waiting there behind another
 * batch of the same session (sessions run one batch at a time).
 */
import type { Engine } from '../engine/engine.ts';
import type { Servable } from '../engine/pipelines/ocr-servable.ts';
import { TesseraError } from '../errors.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';
import type { TensorMap } from '../protocol/tensor.ts';

/** A model as a session serves it, with the device it landed on. */
export interface ServedModel extends Servable {
  device: string;
  deviceReason: string;
  /** Text-generation models (serve-generation.ts): streams chunks through `onChunk`, settles the result. */
  generate?: (request: GenerateRequest, onChunk: (chunk: GenerateChunk) => void, signal: AbortSignal) => Promise<GenerateResult>;
}

/** What the host needs from a worker: its engine, a way to end it, word if it dies. */
export interface HostedWorker {
  engine: Engine;
  terminate(): Promise<void>;
  onExit(listener: (why: string) => void): void;
}

export type ComputeHostEvent =
  | { type: 'restarting'; why: string }
  | { type: 'ready'; generation: number; loadMs: number }
  | { type: 'load-failed'; message: string };

export interface ComputeHostOptions {
  /** A fresh worker (in Node: spawnNodeEngineProcess). */
  spawn: () => HostedWorker;
  /** Loads what the session serves into a fresh worker's engine; called at start and after every restart. */
  load: (engine: Engine) => Promise<Map<string, ServedModel>>;
  /** A batch still computing after this long fails with `timeout` and its worker is replaced. */
  computeTimeoutMs: number;
  onEvent?: (event: ComputeHostEvent) => void;
}

export interface ComputeHost {
  /** What the first load served (offers, devices). */
  readonly served: ReadonlyMap<string, ServedModel>;
  /** Runs a batch; `timeoutMs` (e.g. the request's own deadline) shortens the host's compute timeout, never lengthens it. */
  run(model: string, inputs: TensorMap, signal: AbortSignal, timeoutMs?: number): Promise<TensorMap>;
  /**
   * Runs a generation on a text-generation model. The compute deadline is per
   * step here: a generation that produces no chunk for `computeTimeoutMs`
   * (a stuck step) fails with `timeout` and the worker is replaced, while a
   * long generation that keeps producing runs as long as it needs.
   */
  generate(model: string, request: GenerateRequest, onChunk: (chunk: GenerateChunk) => void, signal: AbortSignal): Promise<GenerateResult>;
  /** How many workers were replaced so far. */
  readonly restarts: number;
  close(): Promise<void>;
}

interface Generation {
  number: number;
  worker: HostedWorker;
  served: Map<string, ServedModel>;
  dead: boolean;
  /** Rejecters of the batches running on this worker. */
  running: Set<(error: TesseraError) => void>;
}

/**
 * @example
 * const host = await startComputeHost({ spawn: () => spawnNodeEngineProcess(), load: (engine) => loadServed(engine, ...), computeTimeoutMs: 30_000 });
 * const outputs = await host.run('ppocr-v4', inputs, signal);
 */
export async function startComputeHost(options: ComputeHostOptions): Promise<ComputeHost> {
  const emit = (event: ComputeHostEvent) => options.onEvent?.(event);
  let generations = 0;
  let restarts = 0;
  let closed = false;
  let latest: Generation | undefined;

  async function startGeneration(): Promise<Generation> {
    const started = performance.now();
    const worker = options.spawn();
    const gen: Generation = { number: ++generations, worker, served: new Map(), dead: false, running: new Set() };
    worker.onExit((why) => void replace(gen, why));
    try {
      gen.served = await options.load(worker.engine);
    } catch (err) {
      gen.dead = true;
      await worker.terminate().catch(() => undefined);
      throw err;
    }
    latest = gen;
    emit({ type: 'ready', generation: gen.number, loadMs: Math.round(performance.now() - started) });
    return gen;
  }

  let current: Promise<Generation> = startGeneration();
  const first = await current;

  function replace(gen: Generation, why: string): void {
    if (gen.dead || closed) return;
    gen.dead = true;
    restarts += 1;
    emit({ type: 'restarting', why });
    const error = new TesseraError('unavailable', `this session's compute worker was restarted (${why}); the request was not at fault, retry it`);
    for (const reject of gen.running) reject(error);
    gen.running.clear();
    void gen.worker.terminate().catch(() => undefined);
    current = startGeneration();
    current.catch((err: unknown) => emit({ type: 'load-failed', message: err instanceof Error ? err.message : String(err) }));
  }

  return {
    get served() {
      return first.served;
    },
    get restarts() {
      return restarts;
    },
    async run(model, inputs, signal, timeoutMs) {
      if (closed) throw new TesseraError('session-closed', 'the compute host is closed');
      let gen = await current;
      // Replaced while this call waited for it: take the replacement.
      while (gen.dead && !closed) gen = await current;
      if (closed) throw new TesseraError('session-closed', 'the compute host is closed');
      const servable = gen.served.get(model);
      if (!servable) throw new TesseraError('not-found', `this session does not serve model "${model}"`);
      const limit = Math.min(options.computeTimeoutMs, timeoutMs ?? Infinity);
      return new Promise<TensorMap>((resolve, reject) => {
        const timer = setTimeout(() => {
          gen.running.delete(reject);
          reject(new TesseraError('timeout', `compute took longer than ${limit} ms, so the session stopped it and restarted its worker; send a smaller input (fewer pixels, lines or rows), or start the session with a larger --compute-timeout`, {
            details: { computeTimeoutMs: limit, model },
          }));
          replace(gen, `a ${model} batch computed for more than ${limit} ms`);
        }, limit);
        gen.running.add(reject);
        servable.run(inputs, signal).then(resolve, reject).finally(() => {
          clearTimeout(timer);
          gen.running.delete(reject);
        });
      });
    },
    async generate(model, request, onChunk, signal) {
      if (closed) throw new TesseraError('session-closed', 'the compute host is closed');
      let gen = await current;
      while (gen.dead && !closed) gen = await current;
      if (closed) throw new TesseraError('session-closed', 'the compute host is closed');
      const servable = gen.served.get(model);
      if (!servable?.generate) throw new TesseraError('not-found', `this session does not generate text with model "${model}"`);
      const generate = servable.generate;
      const limit = options.computeTimeoutMs;
      return new Promise<GenerateResult>((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const arm = (): void => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            gen.running.delete(reject);
            reject(new TesseraError('timeout', `a ${model} generation step took longer than ${limit} ms, so the session stopped it and restarted its worker`, { details: { computeTimeoutMs: limit, model } }));
            replace(gen, `a ${model} generation step computed for more than ${limit} ms`);
          }, limit);
        };
        arm();
        gen.running.add(reject);
        generate(request, (chunk) => {
          arm();
          onChunk(chunk);
        }, signal).then(resolve, reject).finally(() => {
          clearTimeout(timer);
          gen.running.delete(reject);
        });
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      const gen = await current.catch(() => latest);
      if (!gen) return;
      gen.dead = true;
      for (const reject of gen.running) reject(new TesseraError('session-closed', 'the session is closing'));
      // Ending the worker frees its sessions; asking it to dispose them first could wait on a stuck run.
      await gen.worker.terminate();
    },
  };
}
