/**
 * What the coordinator pools tell the directory, and what the directory tells
 * its readers (the `/dashboard` feed, `/v1/models`, `/v2/health/ready`,
 * `/metrics`). Plain data, no behaviour: the one contract between the pool
 * objects (worker/coordinator-do.ts), the directory object and the dashboard.
 *
 * Why a directory: every pool pushes its summary to one small object when
 * something changes (at most about once a second under load), so a reader
 * asks one object, and no request path fans out to every pool. The directory
 * holds the latest summary per pool and never sees inference traffic. A pool
 * with no sessions and nothing queued reports once more and leaves the
 * directory (a `pool-gone` event); it comes back with its next session.
 *
 * @example
 * const snapshot: DirectorySnapshot = await directory.snapshot();
 * for (const p of snapshot.pools) console.log(p.pool, p.sessions.length, p.requestsPerSecond);
 */
import type { MetricsSnapshot } from './metrics.ts';
import type { ModelOffer } from '../protocol/coordinator-messages.ts';

/** One session as one pool sees it. */
export interface PoolSessionSummary {
  id: string;
  /** The device the session declared at join: `webgpu`, `wasm`, `cpu`, `cuda`, … */
  device: string;
  /** Every model this session serves in this pool (a pool serves one model: normally one entry). */
  models: string[];
  /** Batches or generations the session is running now. */
  inFlight: number;
  /** Measured throughput for this pool's model, requests (or generations) per second. */
  throughput: number;
  /** Milliseconds since the session joined this pool. */
  leaseAgeMs: number;
  /** True when the session loaded the model because the directory asked it to (prewarming). */
  prewarmed?: boolean;
}

/** One pool's state, pushed by the pool object. */
export interface PoolSummary {
  /** The pool's name: the model name, plus `@<shard>` if a hot model is ever sharded. */
  pool: string;
  model: string;
  /** The revision the pool's sessions serve (the first session's when they disagree). */
  revision?: string;
  /** The model as the inference APIs list it (the first session's offer), absent when no session serves it. */
  offer?: ModelOffer;
  /** When the pool produced this summary (ms since the epoch, the pool's clock). */
  at: number;
  sessions: PoolSessionSummary[];
  queueDepth: number;
  /**
   * Requests answered per second (any status) since the pool's previous
   * report: pools report at most about once a second under traffic, and
   * once more after it stops, so the window is about a second.
   */
  requestsPerSecond: number;
  /** 429s answered per second over the same window. */
  rateLimitedPerSecond: number;
  /** Requests answered `timeout` (a missed deadline) per second over the same window. */
  deadlineMissesPerSecond: number;
  /**
   * How long a request waits in the queue now, ms (the prewarming signal):
   * estimated by Little's law as queue depth over the answer rate (the pool
   * keeps no per-request queue-wait histogram); 0 with an empty queue, the
   * whole window when nothing was answered in it.
   */
  queueWaitMs: number;
  /** Submit to answer over the window, ms, at the latency histogram's bucket resolution. */
  latencyP50Ms?: number;
  latencyP99Ms?: number;
  /** Generation models: submit to first streamed chunk. */
  ttftP50Ms?: number;
  ttftP99Ms?: number;
  /** The pool's cumulative counters, for `/metrics` (labelled by model and pool there). */
  metrics: MetricsSnapshot;
}

/** A prewarming step, as the directory records it (a ring of the latest few hundred). */
export interface PrewarmEvent {
  at: number;
  type: 'asked' | 'progress' | 'ready' | 'failed' | 'unload' | 'declined';
  sessionId: string;
  model: string;
  /** Why the directory acted (`asked`, `unload`) or what went wrong (`failed`, `declined`). */
  reason?: string;
  /** `progress`: bytes loaded so far and in all. */
  loadedBytes?: number;
  totalBytes?: number;
}

/** Prewarming's counters and gauges, for `/metrics` (worker/lib/prewarm-metrics.ts renders them). */
export interface PrewarmMetrics {
  /** Sessions holding a standby socket (offering to load models). */
  standbySessions: number;
  /** The budget they offered, and the part taken by prewarmed models (loaded or loading), bytes. */
  budgetOfferedBytes: number;
  budgetUsedBytes: number;
  /** Prewarm events since the directory's storage began, by model and type. */
  events: { model: string; type: PrewarmEvent['type']; count: number }[];
  /** Prewarmed models held now (ready), sessions per model. */
  prewarmed: { model: string; sessions: number }[];
}

/** The directory's whole state: the first event of every feed. */
export interface DirectorySnapshot {
  at: number;
  pools: PoolSummary[];
  prewarm: PrewarmEvent[];
  /** Added by prewarming (optional: a directory without standby sessions may leave it out). */
  prewarmMetrics?: PrewarmMetrics;
}

/**
 * One line of the directory's live feed (NDJSON; the dashboard relays it as
 * server-sent events): a snapshot first, then changes as they arrive.
 */
export type DirectoryFeedEvent =
  | { type: 'snapshot'; snapshot: DirectorySnapshot }
  | { type: 'pool'; summary: PoolSummary }
  | { type: 'pool-gone'; pool: string; at: number }
  | { type: 'prewarm'; event: PrewarmEvent };
