import { describe, expect, it } from 'vitest';
import type { TensorMap } from '../protocol/tensor.ts';
import type { InferMessage, JoinMessage } from '../protocol/coordinator-messages.ts';
import type { CoordinatorAction } from './actions.ts';
import { admit, expectedFinishMs, shouldShed } from './admission.ts';
import { Coordinator } from './coordinator.ts';

const joinMsg = (id: string, opts: Partial<JoinMessage> = {}): JoinMessage => ({
  type: 'join', token: 't', sessionId: id, device: 'wasm', models: [{ name: 'm', revision: '1', maxBatch: 4 }],
  capacity: { maxInFlight: 1, requestsPerSecond: 5 }, ...opts,
});
const x = (): TensorMap => ({ x: { type: 'float32', dims: [1, 2], data: new Float32Array(2) } });
const infers = (a: CoordinatorAction[]) => a.flatMap((v) => (v.type === 'send' && v.message.type === 'infer' ? [{ sessionId: v.sessionId, ...v.message }] : []));
const cancels = (a: CoordinatorAction[]) => a.flatMap((v) => (v.type === 'send' && v.message.type === 'cancel' ? [{ sessionId: v.sessionId, ...v.message }] : []));
const codeOf = (a: CoordinatorAction) => (a.type === 'respond' && a.response.type === 'error' ? a.response.error.code : a.type === 'respond' ? 'ok' : a.type);
const make = (config = {}) => new Coordinator({ config: { maxDelayMs: 0, leaseMs: 60_000, heartbeatMs: 1000, ...config }, random: () => 0.5 });

/**
 * The burst: `n` requests at once against one session that takes
 * `serviceMs` per request (maxBatch 1, like OCR images), driven on a fake
 * clock until everything is answered.
 */
function burst(n: number, serviceMs: number, declaredRps: number) {
  const c = make({ maxBatch: 1 });
  c.join(joinMsg('a', { capacity: { maxInFlight: 1, requestsPerSecond: declaredRps }, models: [{ name: 'm', revision: '1', maxBatch: 1 }] }), 0);
  const answeredAt = new Map<string, { code: string; at: number }>();
  let now = 0;
  let running: InferMessage | undefined;
  const apply = (actions: CoordinatorAction[]) => {
    for (const a of actions) {
      if (a.type === 'respond') answeredAt.set(a.requestId, { code: codeOf(a), at: now });
      else if (a.type === 'send' && a.message.type === 'infer') running = a.message;
    }
  };
  for (let i = 0; i < n; i++) apply(c.submit({ id: `r${i}`, model: 'm', inputs: x() }, 0));
  while (answeredAt.size < n) {
    const next = Math.min(running ? now + serviceMs : Infinity, c.nextWakeAt() ?? Infinity);
    expect(next).toBeLessThan(Infinity);
    now = next;
    if (running && now >= 0) {
      const msg = running;
      running = undefined;
      apply(c.handle('a', { type: 'result', requestIds: msg.requestIds, outputs: { y: x().x as never } }, now));
      c.handle('a', { type: 'heartbeat' }, now);
    }
    apply(c.tick(now));
  }
  const by = (code: string) => [...answeredAt.values()].filter((v) => v.code === code);
  return { ok: by('ok'), limited: by('rate-limited'), timeouts: by('timeout'), all: answeredAt };
}

describe('admission by deadline', () => {
  it('estimates the finish time from measured rates and free slots', () => {
    expect(expectedFinishMs({ rate: 5, sessions: 1, freeSlots: 0 }, 9)).toBe(2200);
    expect(expectedFinishMs({ rate: 10, sessions: 2, freeSlots: 2 }, 0)).toBe(200);
    expect(expectedFinishMs({ rate: 0, sessions: 0, freeSlots: 0 }, 0)).toBe(Infinity);
    expect(admit({ rate: 5, sessions: 1, freeSlots: 1 }, 0, 1)).toEqual({ admit: true });
    expect(admit({ rate: 5, sessions: 1, freeSlots: 0 }, 200, 30_000)).toMatchObject({ admit: false, retryAfterSeconds: 11 });
    expect(shouldShed({ rate: 5, sessions: 1, freeSlots: 0 }, 149, 10_000)).toBe(true);
    expect(shouldShed({ rate: 5, sessions: 1, freeSlots: 0 }, 10, 10_000)).toBe(false);
  });

  it('500 at once against one 5/s session: no timeouts, every 429 at once with a Retry-After from the estimate', () => {
    const r = burst(500, 200, 5);
    expect(r.timeouts).toHaveLength(0);
    expect(r.ok.length + r.limited.length).toBe(500);
    // 30 s of 200 ms requests: ~150 can finish in time.
    expect(r.ok.length).toBeGreaterThanOrEqual(140);
    expect(r.ok.length).toBeLessThanOrEqual(151);
    expect(r.limited.every((v) => v.at === 0)).toBe(true);
    expect(Math.max(...r.ok.map((v) => v.at))).toBeLessThanOrEqual(30_000);
  });

  it('sheds queued requests once measurement shows the declared rate was optimistic, before they time out', () => {
    // Declares 10/s, runs at 5/s: admission lets in twice what can finish.
    const r = burst(500, 200, 10);
    expect(r.timeouts).toHaveLength(0);
    expect(r.ok.length).toBeGreaterThanOrEqual(130);
    const late = r.limited.filter((v) => v.at > 0);
    expect(late.length).toBeGreaterThan(0);
    // Shed before their 30 s deadline, not at it.
    expect(Math.max(...late.map((v) => v.at))).toBeLessThan(30_000);
  });

  it('gives Retry-After from the expected wait, and admits again once the queue drains', () => {
    const c = make({ maxBatch: 1, requestTimeoutMs: 2000 });
    c.join(joinMsg('a'), 0);
    const codes = [];
    for (let i = 0; i < 12; i++) codes.push(...c.submit({ id: `r${i}`, model: 'm', inputs: x() }, 0).map(codeOf));
    // 5/s and 2 s: the running one plus 8 queued finish in time (9 x 200 ms + 200 ms = 2 s).
    expect(codes.filter((k) => k === 'send')).toHaveLength(1);
    const refused = c.submit({ id: 'late', model: 'm', inputs: x() }, 0)[0];
    expect(codeOf(refused as CoordinatorAction)).toBe('rate-limited');
    expect(refused?.type === 'respond' && refused.response.type === 'error' && refused.response.retryAfterSeconds).toBe(1);
    expect(JSON.stringify(refused)).toContain('before the deadline');
  });
});

describe('re-dispatch rules', () => {
  it('re-dispatches a lost batch once, each request alone, and fails it on the second loss', () => {
    // a is busy with one request, so the next three wait for company and go as one batch.
    const c1 = make({ maxBatch: 4, maxDelayMs: 5 });
    c1.join(joinMsg('a', { capacity: { maxInFlight: 2, requestsPerSecond: 5 } }), 0);
    c1.submit({ id: 'warm', model: 'm', inputs: x() }, 0); // a busy: the next ones wait for company
    for (const id of ['p', 'q', 'r']) c1.submit({ id, model: 'm', inputs: x() }, 1);
    const batch = infers(c1.tick(10)).find((m) => m.requestIds.length === 3);
    expect(batch?.requestIds).toEqual(['p', 'q', 'r']);
    c1.join(joinMsg('b', { capacity: { maxInFlight: 4, requestsPerSecond: 5 } }), 10);
    const again = infers(c1.disconnect('a', 20));
    // Each suspect alone: one poison request can take down at most one more session.
    expect(again.map((m) => m.requestIds)).toEqual([['warm'], ['p'], ['q'], ['r']].slice(0, again.length));
    expect(again.every((m) => m.requestIds.length === 1)).toBe(true);
    const fail = c1.disconnect('b', 30).map(codeOf);
    expect(fail.filter((k) => k === 'unavailable')).toHaveLength(again.length);
    expect(c1.metrics().redispatched).toBe(4);
  });

  it('never re-dispatches a request a session timed out on, and the pool keeps serving', () => {
    const c = make({ maxBatch: 1 });
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    const sent = infers(c.submit({ id: 'heavy', model: 'm', inputs: x() }, 0))[0] as InferMessage & { sessionId: string };
    expect(sent.deadlineMs).toBe(30_000);
    const out = c.handle(sent.sessionId, { type: 'error', requestIds: ['heavy'], error: { name: 'TesseraError', code: 'timeout', message: 'compute deadline passed' } }, 100);
    expect(out.map(codeOf)).toEqual(['timeout']);
    expect(infers(out)).toEqual([]);
    // The same session and the other one both still take work.
    const next = infers(c.submit({ id: 'good', model: 'm', inputs: x() }, 200));
    expect(next).toHaveLength(1);
    expect(c.sessions()).toHaveLength(2);
  });

  it('sends each batch the time its earliest deadline leaves', () => {
    const c = make({ maxBatch: 1 });
    c.join(joinMsg('a'), 1000);
    const m = infers(c.submit({ id: 'r', model: 'm', inputs: x(), deadline: 6000 }, 1000))[0];
    expect(m?.deadlineMs).toBe(5000);
  });
});

describe('cancellation', () => {
  it('a cancelled queued request leaves the queue; a cancelled running one is cancelled at the session, which keeps its slot until it answers', () => {
    const c = make({ maxBatch: 1 });
    c.join(joinMsg('a'), 0);
    c.submit({ id: 'running', model: 'm', inputs: x() }, 0);
    c.submit({ id: 'queued', model: 'm', inputs: x() }, 0);
    c.submit({ id: 'next', model: 'm', inputs: x() }, 0);
    expect(c.cancel('queued', 10).map(codeOf)).toEqual(['aborted']);
    expect(c.metrics().queueDepth).toEqual([{ model: 'm', depth: 1 }]);
    const cancelled = c.cancel('running', 20);
    expect(cancelled.map(codeOf)).toEqual(['aborted', 'send']);
    expect(cancels(cancelled)).toEqual([{ sessionId: 'a', type: 'cancel', requestIds: ['running'] }]);
    // Still computing: nothing else is sent to it yet.
    expect(infers(cancelled)).toEqual([]);
    const rateBefore = c.sessions()[0]?.rate;
    const freed = c.handle('a', { type: 'error', requestIds: ['running'], error: { name: 'TesseraError', code: 'aborted', message: 'cancelled' } }, 30);
    expect(infers(freed).map((m) => m.requestIds)).toEqual([['next']]);
    expect(freed.filter((a) => a.type === 'respond')).toEqual([]);
    // The cut-short batch is not a rate sample.
    expect(c.sessions()[0]?.rate).toBe(rateBefore);
  });

  it('does not cancel a batch that other requests still wait on', () => {
    const c = make({ maxBatch: 4, maxDelayMs: 5 });
    c.join(joinMsg('a', { capacity: { maxInFlight: 2, requestsPerSecond: 5 } }), 0);
    c.submit({ id: 'w', model: 'm', inputs: x() }, 0);
    c.submit({ id: 'p', model: 'm', inputs: x() }, 1);
    c.submit({ id: 'q', model: 'm', inputs: x() }, 1);
    expect(infers(c.tick(10)).map((m) => m.requestIds)).toEqual([['p', 'q']]);
    expect(cancels(c.cancel('p', 11))).toEqual([]);
    expect(cancels(c.cancel('q', 12))).toEqual([{ sessionId: 'a', type: 'cancel', requestIds: ['p', 'q'] }]);
  });
});
