import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import type { PoolSummary } from './pool-summary.ts';
import { DEFAULT_PREWARM_CONFIG, prewarmConfigFromVar, resolvePrewarmConfig } from './prewarm-config.ts';
import { decidePrewarm, emptyPrewarmMemory, settlePrewarm, type PrewarmAction, type PrewarmLoadState, type PrewarmMemory, type StandbyState } from './prewarm-policy.ts';

const MB = 1024 * 1024;
const config = resolvePrewarmConfig({
  loadQueueWaitMs: 200, loadRateLimitedPerSecond: 1, loadDeadlineMissesPerSecond: 0.5, sustainMs: 3_000,
  askTimeoutMs: 10_000, retryAfterMs: 60_000, unloadRequestsPerSecond: 0.5, unloadQueueWaitMs: 10,
  idleTtlMs: 30_000, minResidenceMs: 60_000, maxPrewarmedPerModel: 2, summaryStaleMs: 5_000,
});

function pool(model: string, at: number, load: Partial<PoolSummary> = {}): PoolSummary {
  return {
    pool: model, model, revision: 'r1', at, sessions: [], queueDepth: 0, queueWaitMs: 0, requestsPerSecond: 0, rateLimitedPerSecond: 0, deadlineMissesPerSecond: 0,
    metrics: { sessions: 0, sessionsByModel: [], requests: [], queueDepth: [], inFlight: [], redispatched: 0, latency: [], compute: [], timeToFirstToken: [], generatedTokens: [] },
    ...load,
  };
}
const busy = (model: string, at: number): PoolSummary => pool(model, at, { requestsPerSecond: 50, queueWaitMs: 800, queueDepth: 40 });
const idle = (model: string, at: number): PoolSummary => pool(model, at, { requestsPerSecond: 0, queueWaitMs: 0 });
/** Between the bands: not pressure, not calm. */
const steady = (model: string, at: number): PoolSummary => pool(model, at, { requestsPerSecond: 20, queueWaitMs: 50 });

function standby(sessionId: string, over: Partial<StandbyState> = {}): StandbyState {
  return { sessionId, device: 'cpu', budgetBytes: 100 * MB, models: 'all', serving: [], loads: [], ...over };
}
const sizes = new Map([['mlp', { revision: 'r1', bytes: 30 * MB }], ['ocr', { revision: 'r1', bytes: 20 * MB }]]);

/**
 * A tiny directory: applies the policy's actions to its standbys the way
 * worker/lib/prewarm-standby.ts does, with a fake clock.
 */
class World {
  now = 0;
  memory: PrewarmMemory = emptyPrewarmMemory();
  pools = new Map<string, PoolSummary>();
  actions: (PrewarmAction & { at: number })[] = [];
  /** Sessions load at once: every ask becomes ready right after the decision that made it. */
  autoReady = false;
  standbys: StandbyState[];
  sizeMap: ReadonlyMap<string, { revision: string; bytes: number }>;
  constructor(standbys: StandbyState[], sizeMap = sizes) {
    this.standbys = standbys;
    this.sizeMap = sizeMap;
  }

  decide(): PrewarmAction[] {
    const d = decidePrewarm({ now: this.now, pools: [...this.pools.values()], standbys: this.standbys, sizes: this.sizeMap }, this.memory, config);
    this.memory = d.memory;
    for (const a of d.actions) {
      this.actions.push({ ...a, at: this.now });
      if (a.type === 'prewarm') this.#edit(a.sessionId, (loads) => [...loads, { model: a.model, revision: a.revision, bytes: a.bytes, state: 'asked', lastHeardAt: this.now }]);
      if (a.type === 'unload') this.#edit(a.sessionId, (loads) => loads.filter((l) => l.model !== a.model));
    }
    return d.actions;
  }

  ready(sessionId: string, model: string): void {
    this.#edit(sessionId, (loads) => loads.map((l) => (l.model === model ? { ...l, state: 'ready', readyAt: this.now } : l)));
    this.memory = settlePrewarm(this.memory, model, sessionId, this.now, 'ready', config);
  }

  failed(sessionId: string, model: string): void {
    this.#edit(sessionId, (loads) => loads.filter((l) => l.model !== model));
    this.memory = settlePrewarm(this.memory, model, sessionId, this.now, 'failed', config);
  }

  progress(sessionId: string, model: string): void {
    this.#edit(sessionId, (loads) => loads.map((l) => (l.model === model ? { ...l, state: 'loading', lastHeardAt: this.now } : l)));
  }

  /** Every `stepMs` until `untilMs`: the pool pushes `summary(now)` and the directory decides. */
  run(untilMs: number, stepMs: number, summary: (now: number) => PoolSummary | PoolSummary[]): void {
    while (this.now < untilMs) {
      this.now += stepMs;
      for (const s of [summary(this.now)].flat()) this.pools.set(s.pool, s);
      this.decide();
      if (!this.autoReady) continue;
      for (const s of this.standbys) for (const l of s.loads) if (l.state !== 'ready') this.ready(s.sessionId, l.model);
    }
  }

  count(type: PrewarmAction['type']): number {
    return this.actions.filter((a) => a.type === type).length;
  }

  #edit(sessionId: string, f: (loads: readonly PrewarmLoadState[]) => PrewarmLoadState[]): void {
    this.standbys = this.standbys.map((s) => (s.sessionId === sessionId ? { ...s, loads: f(s.loads) } : s));
  }
}

describe('prewarm policy: loading under pressure', () => {
  it('asks only once pressure has held for the sustain window, and says when to look again', () => {
    const memory = emptyPrewarmMemory();
    const first = decidePrewarm({ now: 1_000, pools: [busy('mlp', 1_000)], standbys: [standby('s1')], sizes }, memory, config);
    expect(first.actions).toEqual([]);
    expect(first.wakeAt).toBe(4_000);
    const early = decidePrewarm({ now: 3_999, pools: [busy('mlp', 3_999)], standbys: [standby('s1')], sizes }, first.memory, config);
    expect(early.actions).toEqual([]);
    const due = decidePrewarm({ now: 4_000, pools: [busy('mlp', 4_000)], standbys: [standby('s1')], sizes }, early.memory, config);
    expect(due.actions).toEqual([{ type: 'prewarm', sessionId: 's1', model: 'mlp', revision: 'r1', bytes: 30 * MB, reason: expect.stringMatching(/queue wait 800 ms >= 200 ms for 3 s/) }]);
    expect(due.wakeAt).toBe(14_000); // the ask's timeout
  });

  it('ignores a spike shorter than the window', () => {
    const w = new World([standby('s1')]);
    w.run(2_000, 500, (now) => busy('mlp', now));
    w.run(2_500, 500, (now) => steady('mlp', now));
    w.run(5_000, 500, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(0);
    w.run(6_000, 500, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
  });

  it('counts 429s and missed deadlines as pressure too, each on its own', () => {
    for (const load of [{ rateLimitedPerSecond: 1.5 }, { deadlineMissesPerSecond: 0.5 }, { queueWaitMs: 200 }]) {
      const w = new World([standby('s1')]);
      w.run(4_000, 1_000, (now) => pool('mlp', now, { requestsPerSecond: 10, ...load }));
      expect(w.count('prewarm'), JSON.stringify(load)).toBe(1);
    }
    const below = new World([standby('s1')]);
    below.run(10_000, 1_000, (now) => pool('mlp', now, { requestsPerSecond: 10, rateLimitedPerSecond: 0.9, deadlineMissesPerSecond: 0.4, queueWaitMs: 199 }));
    expect(below.count('prewarm')).toBe(0);
  });

  it('takes the queue wait the pool reports, and a queue no session serves as pressure', () => {
    const session = { id: 'p1', device: 'cpu', models: ['mlp'], inFlight: 1, throughput: 100, leaseAgeMs: 1 };
    const w = new World([standby('s1')]);
    w.run(4_000, 1_000, (now) => pool('mlp', now, { requestsPerSecond: 100, queueDepth: 30, queueWaitMs: 300, sessions: [session] }));
    expect(w.actions).toEqual([expect.objectContaining({ type: 'prewarm', reason: expect.stringMatching(/queue wait 300 ms/) })]);
    const orphan = new World([standby('s1')]);
    orphan.run(4_000, 1_000, (now) => pool('mlp', now, { queueDepth: 3, queueWaitMs: 100 }));
    expect(orphan.actions).toEqual([expect.objectContaining({ type: 'prewarm', reason: expect.stringMatching(/requests queued and no session serving/) })]);
  });

  it('a stale summary is not pressure', () => {
    const w = new World([standby('s1')]);
    w.pools.set('mlp', busy('mlp', 0));
    for (w.now = 0; w.now <= 20_000; w.now += 1_000) w.decide();
    expect(w.count('prewarm')).toBe(1); // asked at 3 s, while the summary was fresh
    const late = new World([standby('s1')]);
    late.pools.set('mlp', busy('mlp', 0));
    late.now = 6_000;
    late.decide();
    late.now = 20_000;
    late.decide();
    expect(late.count('prewarm')).toBe(0);
  });

  it('picks an offering session with room that does not serve the model, most free budget first', () => {
    const standbys = [
      standby('a-not-offering', { models: ['ocr'] }),
      standby('b-serves-it', { serving: ['mlp'] }),
      standby('c-too-small', { budgetBytes: 29 * MB }),
      standby('d-budget-used', { budgetBytes: 60 * MB, loads: [{ model: 'ocr', revision: 'r1', bytes: 40 * MB, state: 'ready', lastHeardAt: 0, readyAt: 0 }] }),
      standby('e-fits', { budgetBytes: 40 * MB }),
      standby('f-fits-more', { budgetBytes: 50 * MB }),
    ];
    const w = new World(standbys);
    w.run(4_000, 1_000, (now) => [busy('mlp', now), steady('ocr', now)]);
    expect(w.actions.filter((a) => a.type === 'prewarm').map((a) => a.type === 'prewarm' && a.sessionId)).toEqual(['f-fits-more']);
  });

  it('asks nobody when no offering session has the budget', () => {
    const w = new World([standby('s1', { budgetBytes: 10 * MB })]);
    w.run(20_000, 1_000, (now) => busy('mlp', now));
    expect(w.actions).toEqual([]);
  });

  it('keeps one outstanding ask per model', () => {
    const w = new World([standby('s1'), standby('s2')]);
    w.run(9_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
  });

  it('asks for the size it does not know (or knows for another revision) before choosing', () => {
    const w = new World([standby('s1')], new Map([['mlp', { revision: 'r0', bytes: 30 * MB }]]));
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    expect(w.actions.map((a) => a.type)).toEqual(['need-size']);
    expect(w.actions[0]).toMatchObject({ model: 'mlp', revision: 'r1' });
    w.sizeMap = sizes;
    w.run(5_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
  });
});

describe('prewarm policy: asks that do not complete', () => {
  it('gives up an ask without progress after the timeout and asks another session in the same decision', () => {
    const w = new World([standby('s1', { budgetBytes: 200 * MB }), standby('s2')]);
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    expect(w.actions.at(-1)).toMatchObject({ type: 'prewarm', sessionId: 's1' });
    w.run(13_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
    w.run(14_000, 1_000, (now) => busy('mlp', now));
    expect(w.actions.slice(-2)).toEqual([
      expect.objectContaining({ type: 'unload', sessionId: 's1', model: 'mlp', cause: 'timeout', at: 14_000 }),
      expect.objectContaining({ type: 'prewarm', sessionId: 's2', model: 'mlp', at: 14_000 }),
    ]);
  });

  it('progress keeps an ask alive', () => {
    const w = new World([standby('s1'), standby('s2')]);
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    for (let t = 0; t < 6; t++) {
      w.run(w.now + 5_000, 1_000, (now) => busy('mlp', now));
      w.progress('s1', 'mlp');
    }
    expect(w.count('unload')).toBe(0);
    expect(w.count('prewarm')).toBe(1);
  });

  it('does not ask a session that failed or declined again until retryAfterMs has passed', () => {
    const w = new World([standby('s1')]);
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
    w.failed('s1', 'mlp'); // at 4 s: avoided until 64 s
    w.run(63_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
    w.run(64_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(2);
  });
  it('asks another session at once when one fails', () => {
    const w = new World([standby('s1', { budgetBytes: 200 * MB }), standby('s2')]);
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    w.failed('s1', 'mlp');
    w.run(5_000, 1_000, (now) => busy('mlp', now));
    expect(w.actions.map((a) => a.type === 'prewarm' && `${a.sessionId}@${a.at}`)).toEqual(['s1@4000', 's2@5000']);
  });
});

describe('prewarm policy: after a ready', () => {
  it('waits a full window after a session became ready before asking a second one, and stops at maxPrewarmedPerModel', () => {
    const w = new World([standby('s1'), standby('s2'), standby('s3')]);
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    w.now = 4_500;
    w.ready('s1', 'mlp');
    w.run(7_000, 500, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(1);
    w.run(7_500, 500, (now) => busy('mlp', now));
    expect(w.actions.at(-1)).toMatchObject({ type: 'prewarm', sessionId: 's2', at: 7_500 });
    w.ready('s2', 'mlp');
    w.run(60_000, 1_000, (now) => busy('mlp', now));
    expect(w.count('prewarm')).toBe(2); // maxPrewarmedPerModel: 2
  });
});

describe('prewarm policy: unloading', () => {
  function warmed(): World {
    const w = new World([standby('s1')]);
    w.run(4_000, 1_000, (now) => busy('mlp', now));
    w.ready('s1', 'mlp');
    return w;
  }

  it('unloads a prewarmed model idle for the TTL, but not before its minimum residence', () => {
    const w = warmed(); // ready at 4 s
    w.run(63_000, 1_000, (now) => idle('mlp', now)); // calm since 5 s: TTL due at 35 s, residence at 64 s
    expect(w.count('unload')).toBe(0);
    w.run(64_000, 1_000, (now) => idle('mlp', now));
    expect(w.actions.at(-1)).toMatchObject({ type: 'unload', sessionId: 's1', model: 'mlp', cause: 'idle', at: 64_000 });
  });

  it('any traffic above the calm band restarts the idle TTL', () => {
    const w = warmed();
    w.run(60_000, 1_000, (now) => idle('mlp', now));
    w.run(61_000, 1_000, (now) => steady('mlp', now));
    w.run(91_000, 1_000, (now) => idle('mlp', now)); // calm again since 62 s: due at 92 s
    expect(w.count('unload')).toBe(0);
    w.run(92_000, 1_000, (now) => idle('mlp', now));
    expect(w.count('unload')).toBe(1);
  });

  it('a pool that stops pushing counts as calm (silence means no traffic)', () => {
    const w = warmed();
    w.pools.clear();
    w.run(70_000, 1_000, () => []);
    expect(w.count('unload')).toBe(1);
  });

  it('never flaps: load hovering around the thresholds loads once and unloads only after the pressure is long gone', () => {
    const w = new World([standby('s1'), standby('s2')]);
    w.autoReady = true;
    // Ten minutes of demand swinging every 4 s between pressure and just above calm.
    w.run(600_000, 1_000, (now) => (Math.floor(now / 4_000) % 2 === 0 ? busy('mlp', now) : pool('mlp', now, { requestsPerSecond: 0.6, queueWaitMs: 5 })));
    expect(w.count('prewarm')).toBeLessThanOrEqual(config.maxPrewarmedPerModel);
    expect(w.count('unload')).toBe(0);
    const loads = w.count('prewarm');
    expect(loads).toBeGreaterThan(0);
    // Then quiet: each prewarmed session goes exactly once, and nothing comes back.
    w.run(900_000, 1_000, (now) => idle('mlp', now));
    expect(w.count('prewarm')).toBe(loads);
    expect(w.count('unload')).toBe(loads);
  });

  it('a demand that rises and falls slowly causes one load and one unload per cycle, never more', () => {
    const w = new World([standby('s1')]);
    w.autoReady = true;
    for (let cycle = 0; cycle < 3; cycle++) {
      w.run(w.now + 20_000, 1_000, (now) => busy('mlp', now));
      w.run(w.now + 120_000, 1_000, (now) => idle('mlp', now));
    }
    expect(w.actions.map((a) => a.type)).toEqual(['prewarm', 'unload', 'prewarm', 'unload', 'prewarm', 'unload']);
  });
});

describe('prewarm config', () => {
  it('has valid defaults and keeps the hysteresis', () => {
    expect(resolvePrewarmConfig()).toEqual(DEFAULT_PREWARM_CONFIG);
    expect(() => resolvePrewarmConfig({ unloadQueueWaitMs: 300, loadQueueWaitMs: 300 })).toThrow(/"unloadQueueWaitMs" must be below loadQueueWaitMs/);
    expect(() => resolvePrewarmConfig({ idleTtlMs: 0 })).toThrow(/"idleTtlMs" must be a number > 0/);
    expect(() => resolvePrewarmConfig({ maxPrewarmedPerModel: 1.5 })).toThrow(/maxPrewarmedPerModel/);
  });

  it('reads the TESSERA_PREWARM_CONFIG var', () => {
    expect(prewarmConfigFromVar(undefined)).toEqual(DEFAULT_PREWARM_CONFIG);
    expect(prewarmConfigFromVar('{"sustainMs":500}').sustainMs).toBe(500);
    for (const [text, msg] of [['{', /not valid JSON/], ['[1]', /must be a JSON object/], ['{"sustain":1}', /unknown setting "sustain"/], ['{"sustainMs":-1}', /"sustainMs" must be a number >= 0/]] as const) {
      let caught: unknown;
      try {
        prewarmConfigFromVar(text);
      } catch (err) {
        caught = err;
      }
      expect(isTesseraError(caught, 'invalid-argument')).toBe(true);
      expect((caught as Error).message).toMatch(msg);
    }
  });
});
