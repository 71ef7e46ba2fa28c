/**
 * The dashboard's whole state as a pure reducer over the directory's feed
 * (DirectoryFeedEvent, src/coordinator/pool-summary.ts). No clock, no DOM:
 * time comes from the events' own `at`, so the same events always give the
 * same state, and the page only renders what this returns.
 *
 * Bounded by construction: each pool keeps a ring of at most `maxPoints`
 * chart points and the prewarming list at most `maxPrewarm` events, however
 * long the page stays open.
 */
import type { DirectoryFeedEvent, PoolSessionSummary, PoolSummary, PrewarmEvent } from '../coordinator/pool-summary.ts';

/** One chart point of one pool, taken from one summary. */
export interface PoolPoint {
  /** The summary's `at`, ms since the epoch. */
  at: number;
  requestsPerSecond: number;
  rateLimitedPerSecond: number;
  queueDepth: number;
  /** `null` where the pool had no figure (uPlot draws a gap). */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  ttftP50Ms: number | null;
  /** Answered requests so far, all statuses (the pool's cumulative counter). */
  requestsTotal: number;
}

export interface PoolView {
  summary: PoolSummary;
  /** Oldest first, at most `maxPoints`. */
  points: PoolPoint[];
}

export interface DashboardState {
  /** By pool name. */
  pools: Record<string, PoolView>;
  /** Newest first, at most `maxPrewarm`. */
  prewarm: PrewarmEvent[];
  /** `at` of the last event that changed anything (0 before the first snapshot). */
  updatedAt: number;
  /** False until the first snapshot: the page shows "connecting" rather than an empty pool list. */
  ready: boolean;
}

export interface DashboardLimits {
  maxPoints: number;
  maxPrewarm: number;
}

/** About 5 minutes of points at one summary a second (pools push at most about once a second). */
export const DEFAULT_LIMITS: DashboardLimits = { maxPoints: 300, maxPrewarm: 200 };

/** @example let state = initialDashboardState(); */
export function initialDashboardState(): DashboardState {
  return { pools: {}, prewarm: [], updatedAt: 0, ready: false };
}

/**
 * The next state after one feed event. A `snapshot` (the first event of every
 * connection, so also after a reconnect) replaces the pool list and the
 * prewarming list, but keeps the chart history of pools that are still
 * there: a dropped connection leaves no hole in a chart wider than the drop.
 *
 * @example
 * state = reduceDashboard(state, { type: 'pool-gone', pool: 'mlp', at: Date.now() });
 */
export function reduceDashboard(state: DashboardState, event: DirectoryFeedEvent, limits: DashboardLimits = DEFAULT_LIMITS): DashboardState {
  switch (event.type) {
    case 'snapshot': {
      const pools: Record<string, PoolView> = {};
      for (const summary of event.snapshot.pools) pools[summary.pool] = withSummary(state.pools[summary.pool], summary, limits);
      const prewarm = [...event.snapshot.prewarm].sort((a, b) => b.at - a.at).slice(0, limits.maxPrewarm);
      return { pools, prewarm, updatedAt: Math.max(state.updatedAt, event.snapshot.at), ready: true };
    }
    case 'pool':
      return {
        ...state,
        pools: { ...state.pools, [event.summary.pool]: withSummary(state.pools[event.summary.pool], event.summary, limits) },
        updatedAt: Math.max(state.updatedAt, event.summary.at),
      };
    case 'pool-gone': {
      if (!(event.pool in state.pools)) return state;
      const { [event.pool]: _gone, ...pools } = state.pools;
      return { ...state, pools, updatedAt: Math.max(state.updatedAt, event.at) };
    }
    case 'prewarm':
      return { ...state, prewarm: [event.event, ...state.prewarm].slice(0, limits.maxPrewarm), updatedAt: Math.max(state.updatedAt, event.event.at) };
    default: {
      // A newer directory may send kinds this page does not know: ignore them, never crash.
      const unknown: never = event;
      void unknown;
      return state;
    }
  }
}

function withSummary(previous: PoolView | undefined, summary: PoolSummary, limits: DashboardLimits): PoolView {
  const points = previous?.points ?? [];
  const last = points[points.length - 1];
  // A summary seen again (the snapshot after a reconnect repeats the latest) or an
  // older one arriving late adds no point: a chart's x values must only grow.
  if (last !== undefined && summary.at <= last.at) return { summary: last.at === summary.at ? summary : previous!.summary, points };
  const next = [...points, pointOf(summary)];
  return { summary, points: next.length > limits.maxPoints ? next.slice(next.length - limits.maxPoints) : next };
}

/** @example pointOf(summary).requestsPerSecond */
export function pointOf(summary: PoolSummary): PoolPoint {
  return {
    at: summary.at,
    requestsPerSecond: summary.requestsPerSecond,
    rateLimitedPerSecond: summary.rateLimitedPerSecond,
    queueDepth: summary.queueDepth,
    latencyP50Ms: summary.latencyP50Ms ?? null,
    latencyP99Ms: summary.latencyP99Ms ?? null,
    ttftP50Ms: summary.ttftP50Ms ?? null,
    requestsTotal: requestsTotalOf(summary),
  };
}

/**
 * Every answered request of the pool's model so far (any status), from the
 * pool's cumulative counters.
 *
 * @example requestsTotalOf(summary); // 1204
 */
export function requestsTotalOf(summary: PoolSummary): number {
  return summary.metrics.requests.filter((r) => r.model === summary.model).reduce((n, r) => n + r.count, 0);
}

/** 429s answered so far (status `rate-limited`). */
export function rateLimitedTotalOf(summary: PoolSummary): number {
  return summary.metrics.requests.filter((r) => r.model === summary.model && r.status === 'rate-limited').reduce((n, r) => n + r.count, 0);
}

/**
 * One session across every pool it joined: the pools' summaries of it merged
 * (models sorted, each once; throughput summed; the longest lease, i.e. how
 * long it has been serving; prewarmed if any pool says so).
 */
export type SessionView = Required<PoolSessionSummary>;

/**
 * Sessions merged over pools: a session serving two models shows once, with
 * both models and its work in both pools added up. With `now`, lease ages
 * are carried forward from their summary's `at` (an idle pool does not push,
 * but its leases keep ageing).
 *
 * @example sessionsOf(state, Date.now()).map((s) => s.id)
 */
export function sessionsOf(state: DashboardState, now?: number): SessionView[] {
  const byId = new Map<string, SessionView>();
  for (const { summary } of Object.values(state.pools)) {
    const aged = now === undefined ? 0 : Math.max(0, now - summary.at);
    for (const s of summary.sessions) {
      const seen = byId.get(s.id);
      const models = s.models.length > 0 ? s.models : [summary.model];
      const leaseAgeMs = s.leaseAgeMs + aged;
      if (seen === undefined) {
        byId.set(s.id, { id: s.id, device: s.device, models: [...new Set(models)].sort(), inFlight: s.inFlight, throughput: s.throughput, leaseAgeMs, prewarmed: s.prewarmed === true });
      } else {
        seen.models = [...new Set([...seen.models, ...models])].sort();
        seen.inFlight += s.inFlight;
        seen.throughput += s.throughput;
        seen.leaseAgeMs = Math.max(seen.leaseAgeMs, leaseAgeMs);
        seen.prewarmed ||= s.prewarmed === true;
      }
    }
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** Pools sorted by name, for stable rows. */
export function poolsOf(state: DashboardState): PoolView[] {
  return Object.values(state.pools).sort((a, b) => a.summary.pool.localeCompare(b.summary.pool));
}

/** The revision each model's pool serves now (the first pool of the model that has one). */
export function servedRevisions(state: DashboardState): Map<string, string> {
  const out = new Map<string, string>();
  for (const { summary } of poolsOf(state)) if (summary.revision !== undefined && !out.has(summary.model)) out.set(summary.model, summary.revision);
  return out;
}
