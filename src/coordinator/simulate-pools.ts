/**
 * Beyond one machine, by simulation: the aggregate capacity of many
 * coordinator pools (one Durable Object per model) next to today's single
 * object carrying every model, with the per-request and per-batch cost one
 * object was measured to spend (bench/lib/pool-cost.ts, in workerd).
 *
 * The assumption: one object is one thread, about one core's worth of work,
 * and pools share nothing on the request path (each request reaches only its
 * model's pool; the directory hears a summary a second per pool, never a
 * request). So n pools of equal load are n independent copies of one pool,
 * while a single object serves all n models' traffic on its one thread.
 *
 * Where it breaks:
 * - a single hot model: all its traffic is one pool, one thread. The way out
 *   is sharding the pool by key: pools `pool:<model>@<k>` for k < K; a
 *   session joins shard hash(sessionId) mod K (or several, if it has slots
 *   to spare), and a request picks a shard by hash(requestId) mod K, or
 *   better by power of two choices over the shards' queue depths in the
 *   directory's summaries (stale by up to a second, which is why two random
 *   choices beat "least loaded"). Not implemented: PoolSummary's `pool`
 *   already allows the `@<k>` suffix and /v1/models folds shards together.
 * - the directory: one object receiving one summary a second per pool; at
 *   the measured per-request cost it saturates near 1000 / reportMs pools
 *   (reported as `directoryBusy`), after which reports must be less frequent
 *   or the directory sharded by pool-name hash.
 * - the physical machines: Cloudflare places objects across its network, so
 *   one core per object holds there; under `wrangler dev` every object shares
 *   one workerd process, and the aggregate is bounded by the host's cores.
 */
import type { CoordinatorConfig } from './config.ts';
import { simulateCoordinator, type ObjectCost, type SimulatedSession, type SimulationResult } from './simulate-coordinator.ts';

export interface PoolsSimulationOptions {
  /** Pool counts to model, e.g. [1, 4, 16, 64]. */
  pools: number[];
  /**
   * One pool's sessions (each pool, and each model of the single object, gets
   * the same). Default: sessions 16 times faster than the object, so that the
   * object is what limits a pool (its capacity, not the sessions', is modelled).
   */
  sessions?: SimulatedSession[];
  /**
   * Closed-loop clients per pool: enough to keep the object saturated. The
   * single object gets the same number in all (at least one per model):
   * capacity is the most it sustains, and more clients would only queue.
   */
  clientsPerPool: number;
  cost: ObjectCost;
  /** What one directory report costs the directory (ms); default cost.perRequestMs. */
  reportMs?: number;
  durationMs?: number;
  warmupMs?: number;
  config?: Partial<CoordinatorConfig>;
}

export interface PoolsCapacityRow {
  pools: number;
  /** Today: every model's traffic through one object. */
  singleObject: { throughput: number; objectBusy: number; p99Ms: number };
  /** One object per model: n independent pools. */
  perPool: { throughput: number; objectBusy: number; p99Ms: number };
  /** perPool.throughput / singleObject.throughput. */
  speedup: number;
  /** Share of the directory's one thread the pools' once-a-second reports take. */
  directoryBusy: number;
}

/**
 * @example
 * const rows = simulatePools({ pools: [1, 4], sessions: fast, clientsPerPool: 64, cost: { perRequestMs: 0.3, perBatchMs: 0.1 } });
 * rows[1].perPool.throughput / rows[0].perPool.throughput; // ~4
 */
export function simulatePools(options: PoolsSimulationOptions): PoolsCapacityRow[] {
  const durationMs = options.durationMs ?? 5_000;
  const warmupMs = options.warmupMs ?? 1_000;
  const base = { durationMs, warmupMs, objectCost: options.cost, ...(options.config ? { config: options.config } : {}) };
  const sessions = options.sessions ?? fastSessions(options.cost);
  // Every pool is the same pool: simulate one and multiply (pools share nothing on the request path).
  const one = simulateCoordinator({ ...base, sessions, clients: options.clientsPerPool });
  const reportMs = options.reportMs ?? options.cost.perRequestMs;
  return options.pools.map((n) => {
    const models = Array.from({ length: n }, (_, i) => `m${i}`);
    const single: SimulationResult = n === 1 ? one : simulateCoordinator({
      ...base,
      sessions: models.flatMap((model) => sessions.map((s) => ({ ...s, model }))),
      clients: Math.max(n, options.clientsPerPool),
      clientModels: models,
    });
    const perPool = one.throughput * n;
    return {
      pools: n,
      singleObject: { throughput: single.throughput, objectBusy: single.objectBusy, p99Ms: single.p99Ms },
      perPool: { throughput: perPool, objectBusy: one.objectBusy, p99Ms: one.p99Ms },
      speedup: single.throughput > 0 ? perPool / single.throughput : Number.NaN,
      directoryBusy: (n * reportMs) / 1000,
    };
  });
}

/**
 * Four sessions, two batches in flight each, each batch taking a quarter of
 * what one request costs the object: 16 times the object's capacity.
 *
 * @example fastSessions({ perRequestMs: 0.4, perBatchMs: 0.1 }); // 4 x { serviceMs: 0.125, ... }
 */
export function fastSessions(cost: ObjectCost): SimulatedSession[] {
  const serviceMs = Math.max(0.001, (cost.perRequestMs + cost.perBatchMs) / 4);
  return Array.from({ length: 4 }, () => ({ serviceMs, maxInFlight: 2, declaredRps: 2000 / serviceMs }));
}

/**
 * The table the benchmark prints.
 *
 * @example console.log(formatPoolsCapacity(rows, cost).join('\n'));
 */
export function formatPoolsCapacity(rows: PoolsCapacityRow[], cost: ObjectCost): string[] {
  const f = (n: number, d = 0): string => n.toFixed(d);
  return [
    `modelled aggregate capacity (one object = one thread; ${f(cost.perRequestMs, 4)} ms per request + ${f(cost.perBatchMs, 4)} ms per batch; sessions 16x faster than the object, closed-loop clients honouring Retry-After):`,
    'pools  single object (today)  p99 ms  one object per model  p99 ms  speedup  directory busy',
    ...rows.map((r) => `${String(r.pools).padStart(5)}  ${`${f(r.singleObject.throughput)} req/s`.padStart(21)}  ${f(r.singleObject.p99Ms, 1).padStart(6)}  ${`${f(r.perPool.throughput)} req/s`.padStart(20)}  ${f(r.perPool.p99Ms, 1).padStart(6)}  ${f(r.speedup, 2).padStart(7)}  ${`${f(100 * r.directoryBusy, 1)}%`.padStart(14)}`),
    'assumes each pool object gets its own core (Cloudflare spreads objects over machines); a single hot model is one pool: shard it as pool:<model>@<k> (see src/coordinator/simulate-pools.ts).',
  ];
}
