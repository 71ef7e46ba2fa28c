import { describe, expect, it } from 'vitest';
import type { InferMessage, ModelOffer } from '../protocol/coordinator-messages.ts';
import type { CoordinatorAction } from './actions.ts';
import type { RoutingPolicy } from './config.ts';
import { Coordinator } from './coordinator.ts';
import { seededRandom } from '../seeded-random.ts';

/**
 * Random schedules of joins, leaves, disconnects, lease expiries, results,
 * errors, malformed outputs, cancels and submissions. Whatever happens, every
 * submitted request is answered exactly once, and work only goes to live
 * sessions that have the model warm.
 */
function runSchedule(seed: number, policy: RoutingPolicy): { submitted: number; codes: Record<string, number> } {
  const rnd = seededRandom(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const c = new Coordinator({
    config: { policy, maxBatch: 4, maxDelayMs: pick([0, 3]), queueLimit: 6, requestTimeoutMs: 2000, leaseMs: 500, heartbeatMs: 200, backoffBaseMs: 100, backoffMaxMs: 800 },
    random: rnd,
  });
  let now = 0;
  const live = new Map<string, Set<string>>();
  const outstanding = new Map<string, InferMessage[]>();
  const submitted = new Set<string>();
  const answered = new Map<string, number>();
  const codes: Record<string, number> = {};
  let n = 0;

  const apply = (actions: CoordinatorAction[]): void => {
    for (const a of actions) {
      if (a.type === 'respond') {
        expect(submitted.has(a.requestId), `respond for unknown ${a.requestId}`).toBe(true);
        answered.set(a.requestId, (answered.get(a.requestId) ?? 0) + 1);
        const code = a.response.type === 'result' ? 'ok' : a.response.error.code;
        codes[code] = (codes[code] ?? 0) + 1;
      } else if (a.type === 'close') {
        live.delete(a.sessionId);
        outstanding.delete(a.sessionId);
      } else if (a.type === 'send' && a.message.type === 'infer') {
        const models = live.get(a.sessionId);
        expect(models, `infer to dead session ${a.sessionId}`).toBeDefined();
        expect(models?.has(a.message.model), `infer for a model ${a.sessionId} lacks`).toBe(true);
        const rows = a.message.batchSizes.reduce((x, y) => x + y, 0);
        expect(a.message.inputs.x?.dims[0]).toBe(a.message.requestIds.length === 1 ? a.message.inputs.x?.dims[0] : rows);
        outstanding.set(a.sessionId, [...(outstanding.get(a.sessionId) ?? []), a.message]);
      }
    }
  };
  const offers = (): ModelOffer[] => ['m1', 'm2'].filter(() => rnd() < 0.7).map((name) => ({ name, revision: '1', maxBatch: pick([1, 2, 8]) }));

  for (let step = 0; step < 400; step++) {
    const r = rnd();
    const sessions = [...live.keys()];
    if (r < 0.1) {
      const id = pick(['s0', 's1', 's2', 's3', 's4']);
      const models = offers();
      outstanding.delete(id);
      const { actions } = c.join({ type: 'join', token: 't', sessionId: id, device: 'wasm', models, capacity: { maxInFlight: pick([1, 2, 3]), requestsPerSecond: pick([5, 50]) } }, now);
      live.set(id, new Set(models.map((m) => m.name)));
      apply(actions);
    } else if (r < 0.4) {
      const id = `r${n++}`;
      submitted.add(id);
      const rows = pick([1, 1, 2]);
      const width = pick([2, 2, 3]);
      apply(c.submit({ id, model: pick(['m1', 'm1', 'm2', 'nope']), inputs: { x: { type: 'float32', dims: [rows, width], data: new Float32Array(rows * width) } }, deadline: now + pick([300, 2000]) }, now));
    } else if (r < 0.65) {
      const withWork = sessions.filter((s) => (outstanding.get(s)?.length ?? 0) > 0);
      if (withWork.length === 0) continue;
      const id = pick(withWork);
      const list = outstanding.get(id) as InferMessage[];
      const msg = list.splice(Math.floor(rnd() * list.length), 1)[0] as InferMessage;
      const rows = msg.batchSizes.reduce((x, y) => x + y, 0);
      const kind = rnd();
      if (kind < 0.8) {
        apply(c.handle(id, { type: 'result', requestIds: msg.requestIds, outputs: { y: { type: 'float32', dims: [rows], data: new Float32Array(rows) } } }, now));
      } else if (kind < 0.9) {
        apply(c.handle(id, { type: 'error', requestIds: msg.requestIds, error: { name: 'TesseraError', code: 'backend-error', message: 'x' } }, now));
      } else {
        apply(c.handle(id, { type: 'result', requestIds: msg.requestIds, outputs: { y: { type: 'float32', dims: [rows + 1], data: new Float32Array(rows + 1) } } }, now));
      }
    } else if (r < 0.72 && sessions.length > 0) {
      const id = pick(sessions);
      live.delete(id);
      outstanding.delete(id);
      apply(rnd() < 0.5 ? c.disconnect(id, now) : c.handle(id, { type: 'leave' }, now));
    } else if (r < 0.75 && sessions.length > 0) {
      const id = pick(sessions);
      const models = offers();
      live.set(id, new Set(models.map((m) => m.name)));
      apply(c.handle(id, { type: 'models', models }, now));
    } else if (r < 0.78 && submitted.size > 0) {
      apply(c.cancel(`r${Math.floor(rnd() * n)}`, now));
    } else if (r < 0.88) {
      // Most sessions heartbeat; a few go silent and lose their lease.
      for (const id of sessions) if (rnd() < 0.9) apply(c.handle(id, { type: 'heartbeat' }, now));
    } else {
      now += Math.floor(rnd() * 250);
      apply(c.tick(now));
    }
  }
  // Drain: no new work; time runs past every deadline and lease.
  for (let i = 0; i < 20; i++) {
    now += 300;
    apply(c.tick(now));
  }
  for (const id of submitted) expect(answered.get(id), `request ${id} (seed ${seed})`).toBe(1);
  expect(c.nextWakeAt()).toBeUndefined();
  expect(c.metrics().queueDepth).toEqual([]);
  return { submitted: submitted.size, codes };
}

describe('Coordinator under random schedules', () => {
  for (const policy of ['earliest-completion', 'least-expected-delay', 'power-of-two', 'round-robin', 'blind-round-robin'] as const) {
    it(`answers every request exactly once (${policy}, 150 seeds)`, () => {
      const totals: Record<string, number> = {};
      let submitted = 0;
      for (let seed = 1; seed <= 150; seed++) {
        const r = runSchedule(seed * 7919 + policy.length, policy);
        submitted += r.submitted;
        for (const [k, v] of Object.entries(r.codes)) totals[k] = (totals[k] ?? 0) + v;
      }
      // The schedules must actually exercise each outcome, or the test proves little.
      for (const code of ['ok', 'timeout', 'unavailable', 'rate-limited', 'backend-error', 'aborted']) {
        expect(totals[code] ?? 0, code).toBeGreaterThan(0);
      }
      expect(Object.values(totals).reduce((a, b) => a + b, 0)).toBe(submitted);
    });
  }
});
