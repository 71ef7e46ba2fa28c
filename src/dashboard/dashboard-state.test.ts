import { describe, expect, it } from 'vitest';
import type { DirectoryFeedEvent, PoolSummary, PrewarmEvent } from '../coordinator/pool-summary.ts';
import { initialDashboardState, poolsOf, reduceDashboard, requestsTotalOf, servedRevisions, sessionsOf, type DashboardState } from './dashboard-state.ts';

function summary(pool: string, at: number, extra: Partial<PoolSummary> = {}): PoolSummary {
  return {
    pool,
    model: pool,
    at,
    sessions: [],
    queueDepth: 0,
    requestsPerSecond: 0,
    rateLimitedPerSecond: 0,
    deadlineMissesPerSecond: 0,
    queueWaitMs: 0,
    metrics: { sessions: 0, sessionsByModel: [], requests: [], queueDepth: [], inFlight: [], redispatched: 0, latency: [], compute: [], timeToFirstToken: [], generatedTokens: [] },
    ...extra,
  };
}

const prewarm = (at: number, type: PrewarmEvent['type'] = 'asked'): PrewarmEvent => ({ at, type, sessionId: 's2', model: 'mlp' });

function run(events: DirectoryFeedEvent[], limits = { maxPoints: 300, maxPrewarm: 200 }, state: DashboardState = initialDashboardState()): DashboardState {
  return events.reduce((s, e) => reduceDashboard(s, e, limits), state);
}

describe('reduceDashboard', () => {
  it('is not ready until the first snapshot, then holds its pools and prewarming events', () => {
    expect(initialDashboardState().ready).toBe(false);
    const state = run([{ type: 'snapshot', snapshot: { at: 10, pools: [summary('b', 9), summary('a', 8)], prewarm: [prewarm(3), prewarm(7, 'ready')] } }]);
    expect(state.ready).toBe(true);
    expect(poolsOf(state).map((p) => p.summary.pool)).toEqual(['a', 'b']);
    expect(state.prewarm.map((e) => e.at)).toEqual([7, 3]); // newest first
    expect(state.updatedAt).toBe(10);
  });

  it('adds a pool, updates it with one chart point per newer summary, and drops it when gone', () => {
    let state = run([{ type: 'snapshot', snapshot: { at: 0, pools: [], prewarm: [] } }]);
    state = run([{ type: 'pool', summary: summary('mlp', 1000, { requestsPerSecond: 5 }) }], undefined, state);
    expect(state.pools.mlp!.points).toHaveLength(1);
    state = run([{ type: 'pool', summary: summary('mlp', 2000, { requestsPerSecond: 9, latencyP50Ms: 12 }) }], undefined, state);
    expect(state.pools.mlp!.summary.requestsPerSecond).toBe(9);
    expect(state.pools.mlp!.points.map((p) => [p.at, p.requestsPerSecond, p.latencyP50Ms])).toEqual([[1000, 5, null], [2000, 9, 12]]);
    state = run([{ type: 'pool-gone', pool: 'mlp', at: 3000 }], undefined, state);
    expect(state.pools).toEqual({});
    expect(state.updatedAt).toBe(3000);
  });

  it('ignores a pool-gone for a pool it never saw (same state object)', () => {
    const state = run([{ type: 'snapshot', snapshot: { at: 0, pools: [summary('a', 1)], prewarm: [] } }]);
    expect(reduceDashboard(state, { type: 'pool-gone', pool: 'zzz', at: 5 })).toBe(state);
  });

  it('keeps at most maxPoints chart points per pool, the newest', () => {
    const events: DirectoryFeedEvent[] = Array.from({ length: 50 }, (_, i) => ({ type: 'pool', summary: summary('p', (i + 1) * 1000, { requestsPerSecond: i }) }));
    const state = run(events, { maxPoints: 8, maxPrewarm: 5 });
    const points = state.pools.p!.points;
    expect(points).toHaveLength(8);
    expect(points.map((p) => p.requestsPerSecond)).toEqual([42, 43, 44, 45, 46, 47, 48, 49]);
  });

  it('keeps at most maxPrewarm prewarming events, newest first, from the snapshot and from live events', () => {
    const limits = { maxPoints: 8, maxPrewarm: 3 };
    let state = run([{ type: 'snapshot', snapshot: { at: 0, pools: [], prewarm: [1, 2, 3, 4, 5].map((t) => prewarm(t)) } }], limits);
    expect(state.prewarm.map((e) => e.at)).toEqual([5, 4, 3]);
    state = run([6, 7].map((t) => ({ type: 'prewarm', event: prewarm(t, 'progress') }) as DirectoryFeedEvent), limits, state);
    expect(state.prewarm.map((e) => [e.at, e.type])).toEqual([[7, 'progress'], [6, 'progress'], [5, 'asked']]);
  });

  it('after a reconnect, the snapshot replaces the pools but keeps the history of those still there', () => {
    let state = run([
      { type: 'snapshot', snapshot: { at: 0, pools: [summary('a', 1000), summary('b', 1000)], prewarm: [prewarm(1)] } },
      { type: 'pool', summary: summary('a', 2000) },
    ]);
    // The connection drops; 'b' went away meanwhile and 'c' appeared.
    state = run([{ type: 'snapshot', snapshot: { at: 5000, pools: [summary('a', 4000), summary('c', 4500)], prewarm: [] } }], undefined, state);
    expect(Object.keys(state.pools).sort()).toEqual(['a', 'c']);
    expect(state.pools.a!.points.map((p) => p.at)).toEqual([1000, 2000, 4000]);
    expect(state.prewarm).toEqual([]);
  });

  it('adds no point for a summary it already has or an older one (x only grows)', () => {
    let state = run([{ type: 'pool', summary: summary('a', 2000, { requestsPerSecond: 1 }) }]);
    state = run([{ type: 'snapshot', snapshot: { at: 2500, pools: [summary('a', 2000, { requestsPerSecond: 1 })], prewarm: [] } }], undefined, state);
    state = run([{ type: 'pool', summary: summary('a', 1500, { requestsPerSecond: 99 }) }], undefined, state);
    expect(state.pools.a!.points.map((p) => p.at)).toEqual([2000]);
    expect(state.pools.a!.summary.requestsPerSecond).toBe(1);
  });

  it('does not mutate the state it was given', () => {
    const before = run([{ type: 'snapshot', snapshot: { at: 0, pools: [summary('a', 1)], prewarm: [] } }]);
    const copy = structuredClone(before);
    run([{ type: 'pool', summary: summary('a', 2) }, { type: 'prewarm', event: prewarm(3) }, { type: 'pool-gone', pool: 'a', at: 4 }], undefined, before);
    expect(before).toEqual(copy);
  });

  it('ignores an event kind it does not know', () => {
    const state = initialDashboardState();
    expect(reduceDashboard(state, { type: 'future-kind' } as unknown as DirectoryFeedEvent)).toBe(state);
  });
});

describe('derived views', () => {
  it('merges one session serving two pools into one row', () => {
    const state = run([{
      type: 'snapshot',
      snapshot: {
        at: 0,
        prewarm: [],
        pools: [
          summary('mlp', 1, { sessions: [{ id: 's1', device: 'cpu', models: ['mlp'], inFlight: 2, throughput: 10, leaseAgeMs: 5000 }, { id: 's2', device: 'wasm', models: ['mlp'], inFlight: 0, throughput: 1, leaseAgeMs: 100, prewarmed: true }] }),
          summary('sim', 1, { sessions: [{ id: 's1', device: 'cpu', models: ['sim'], inFlight: 1, throughput: 4, leaseAgeMs: 7000 }] }),
        ],
      },
    }]);
    expect(sessionsOf(state)).toEqual([
      { id: 's1', device: 'cpu', models: ['mlp', 'sim'], inFlight: 3, throughput: 14, leaseAgeMs: 7000, prewarmed: false },
      { id: 's2', device: 'wasm', models: ['mlp'], inFlight: 0, throughput: 1, leaseAgeMs: 100, prewarmed: true },
    ]);
  });

  it('ages leases from their summary\'s time when asked to', () => {
    const state = run([{ type: 'pool', summary: summary('mlp', 10_000, { sessions: [{ id: 's1', device: 'cpu', models: ['mlp'], inFlight: 0, throughput: 0, leaseAgeMs: 5000 }] }) }]);
    expect(sessionsOf(state)[0]!.leaseAgeMs).toBe(5000);
    expect(sessionsOf(state, 12_500)[0]!.leaseAgeMs).toBe(7500);
    // A browser clock behind the pool's never makes a lease younger than reported.
    expect(sessionsOf(state, 9_000)[0]!.leaseAgeMs).toBe(5000);
  });

  it('counts the pool model\'s answered requests of every status, and the revision each model serves', () => {
    const s = summary('mlp', 1, {
      revision: '0123456789abcdef',
      metrics: { ...summary('x', 0).metrics, requests: [{ model: 'mlp', status: 'ok', count: 40 }, { model: 'mlp', status: 'rate-limited', count: 2 }, { model: 'other', status: 'ok', count: 99 }] },
    });
    expect(requestsTotalOf(s)).toBe(42);
    const state = run([{ type: 'pool', summary: s }]);
    expect(state.pools.mlp!.points[0]!.requestsTotal).toBe(42);
    expect(servedRevisions(state)).toEqual(new Map([['mlp', '0123456789abcdef']]));
  });
});
