/**
 * The engine a page should use for a model on a given host: a dedicated Web
 * Worker wherever one can start, so the page stays responsive while a model
 * loads and runs (a generator decoding token after token would otherwise
 * freeze it). On the host's own pages (the app) that is a plain Worker; on a
 * page of another origin (embed.js on someone's site) the same worker script
 * is started from the host through a `blob:` bootstrap
 * (src/transport/cross-origin-worker.ts). In-process only when a worker
 * cannot be had: no `Worker` in this realm, a caller's own fetch (a function
 * cannot cross into a worker), or a page whose policy refuses the worker;
 * `transportReason` says which, as `deviceReason` does for the device.
 */
import type { Engine } from '../engine/engine.ts';
import { toErrorData } from '../errors.ts';
import { createEngine } from '../transport/create-engine.ts';
import { createInProcessEngine } from '../engine/in-process-engine.ts';
import type { CrossOriginWorker } from '../transport/cross-origin-worker.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';

/** An engine and why it runs where it does. */
export type PageEngine = Engine & {
  /** E.g. `worker: started from the host's script (this page is another origin)`, or `in-process: ...why not a worker`. */
  readonly transportReason: string;
};

/** How long a page of another origin waits for the host's worker script to start before it runs the model in the page instead. */
const FOREIGN_WORKER_START_MS = 30_000;

/**
 * @example
 * const engine = await pageEngine('https://t.example/models/x/manifest.json');
 * engine.transport; // 'worker' (in-process only where a worker cannot start)
 * engine.transportReason; // why
 */
export async function pageEngine(manifestUrl: string, customFetch?: typeof globalThis.fetch): Promise<PageEngine> {
  if (customFetch !== undefined) return withReason(createInProcessEngine(), 'in-process: a custom fetch cannot be handed to a worker');
  if (typeof Worker !== 'function') return withReason(createInProcessEngine(), 'in-process: this realm has no Worker');
  if (sameOriginAsPage(manifestUrl)) return withReason(await createEngine({ transport: 'worker' }), "worker: this page's origin is the host's");
  if (foreignRefusal !== undefined) return withReason(createInProcessEngine(), `in-process: ${foreignRefusal}`);
  try {
    return withReason(await foreignWorkerEngine(), "worker: started from the host's script (this page is another origin)");
  } catch (error) {
    foreignRefusal ??= toErrorData(error).message;
    return withReason(createInProcessEngine(), `in-process: ${foreignRefusal}`);
  }
}

/**
 * Why a worker of the host's script could not start on this page, once one
 * failed: what refused it (the page's CSP, a start that timed out) holds for
 * the page's life, so every later engine and pipeline runs in-process at once
 * instead of probing again (up to FOREIGN_WORKER_START_MS each).
 */
let foreignRefusal: string | undefined;

/** Whether `url` is on this page's origin (false outside a page). */
export function sameOriginAsPage(url: string): boolean {
  const here = typeof location === 'undefined' ? undefined : location.href;
  return here !== undefined && new URL(url, here).origin === new URL(here).origin;
}

/**
 * The worker engine on a page of another origin. Its first worker is waited
 * for (a refusal shows here, before any model is sent to it); one started
 * again after an idle restart is not: the conditions that let the first one
 * run still hold, and a late failure reaches the engine as the worker's error.
 */
async function foreignWorkerEngine(): Promise<Engine> {
  const [{ createWorkerEngine, spawnEngineWorker }, { CrossOriginWorker: Foreign, startedWithin }] = await Promise.all([
    import('../transport/worker-client.ts'),
    import('../transport/cross-origin-worker.ts'),
  ]);
  let first: CrossOriginWorker | undefined = await startedWithin(spawnEngineWorker(Foreign) as CrossOriginWorker, FOREIGN_WORKER_START_MS);
  return createWorkerEngine({
    spawn: () => {
      const worker = first ?? spawnEngineWorker(Foreign);
      first = undefined;
      return worker;
    },
  });
}

/**
 * A started worker of the host's transformers.js pipeline script
 * (hf-worker.ts, one per pipeline) on a page of another origin; undefined
 * where it cannot start (the caller runs the pipeline in the page).
 *
 * @example
 * const worker = await foreignPipelineWorker();
 */
export async function foreignPipelineWorker(): Promise<WorkerLike | undefined> {
  if (typeof Worker !== 'function' || foreignRefusal !== undefined) return undefined;
  const [{ spawnHfWorker }, { CrossOriginWorker: Foreign, startedWithin }] = await Promise.all([
    import('../transport/hf-worker-client.ts'),
    import('../transport/cross-origin-worker.ts'),
  ]);
  return startedWithin(spawnHfWorker(Foreign) as CrossOriginWorker, FOREIGN_WORKER_START_MS).catch((error: unknown) => {
    foreignRefusal ??= toErrorData(error).message;
    return undefined;
  });
}

function withReason(engine: Engine, transportReason: string): PageEngine {
  return Object.assign(engine, { transportReason });
}
