import { describe, expect, it } from 'vitest';
import type { TensorMap } from '../protocol/tensor.ts';
import type { CoordinatorAction } from './actions.ts';
import { CLOSE_LEASE_EXPIRED, type JoinMessage } from '../protocol/coordinator-messages.ts';
import { Coordinator } from './coordinator.ts';
import { renderPrometheus } from './render-prometheus.ts';

const joinMsg = (id: string, opts: Partial<JoinMessage> = {}): JoinMessage => ({
  type: 'join', token: 't', sessionId: id, device: 'wasm', models: [{ name: 'm', revision: '1', maxBatch: 4 }],
  capacity: { maxInFlight: 1, requestsPerSecond: 10 }, ...opts,
});
const x = (rows = 1, width = 2): TensorMap => ({ x: { type: 'float32', dims: [rows, width], data: new Float32Array(rows * width).fill(rows) } });
const sends = (a: CoordinatorAction[]) => a.flatMap((x) => (x.type === 'send' && x.message.type === 'infer' ? [{ sessionId: x.sessionId, ...x.message }] : []));
const responses = (a: CoordinatorAction[]) => a.flatMap((x) => (x.type === 'respond' ? [x] : []));
const codeOf = (a: CoordinatorAction) => (a.type === 'respond' && a.response.type === 'error' ? a.response.error.code : a.type === 'respond' ? 'ok' : a.type);
const make = (config = {}) => new Coordinator({ config: { maxDelayMs: 0, leaseMs: 1000, heartbeatMs: 300, ...config }, random: () => 0.5 });

describe('Coordinator', () => {
  it('routes only to sessions with the model warm and answers with the outputs', () => {
    const c = make();
    c.join(joinMsg('a', { models: [{ name: 'other', revision: '1', maxBatch: 1 }] }), 0);
    c.join(joinMsg('b'), 0);
    const sent = sends(c.submit({ id: 'r1', model: 'm', inputs: x() }, 1));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ sessionId: 'b', requestIds: ['r1'], batchSizes: [1] });
    const done = c.handle('b', { type: 'result', requestIds: ['r1'], outputs: { y: x().x as never } }, 5);
    expect(responses(done)).toEqual([{ type: 'respond', requestId: 'r1', response: { type: 'result', outputs: { y: x().x }, sessionId: 'b' } }]);
  });

  it('answers unavailable at once when no session has the model', () => {
    const c = make();
    const a = c.submit({ id: 'r1', model: 'nope', inputs: x() }, 0);
    expect(a.map(codeOf)).toEqual(['unavailable']);
    expect(JSON.stringify(a)).toContain('npx tessera serve');
  });

  it('respects per-session capacity, queues the rest, and rejects past the queue limit with Retry-After', () => {
    const c = make({ queueLimit: 2, maxBatch: 1 });
    c.join(joinMsg('a'), 0);
    expect(sends(c.submit({ id: 'r1', model: 'm', inputs: x() }, 0))).toHaveLength(1);
    expect(c.submit({ id: 'r2', model: 'm', inputs: x() }, 0)).toEqual([]);
    expect(c.submit({ id: 'r3', model: 'm', inputs: x() }, 0)).toEqual([]);
    const full = c.submit({ id: 'r4', model: 'm', inputs: x() }, 0);
    expect(full.map(codeOf)).toEqual(['rate-limited']);
    const r = full[0];
    // 3 requests ahead at the declared 10/s: 1 s.
    expect(r?.type === 'respond' && r.response.type === 'error' && r.response.retryAfterSeconds).toBe(1);
    const next = c.handle('a', { type: 'result', requestIds: ['r1'], outputs: x() }, 100);
    expect(sends(next).map((s) => s.requestIds)).toEqual([['r2']]);
  });

  it('times out requests whose deadline passes in the queue or in flight, and tells the session', () => {
    // No admission headroom: r2's estimate (200 ms) just fits its deadline, so it is queued and must time out there.
    const c = make({ maxBatch: 1, admissionHeadroom: 1 });
    c.join(joinMsg('a'), 0);
    c.submit({ id: 'r1', model: 'm', inputs: x(), deadline: 500 }, 0);
    c.submit({ id: 'r2', model: 'm', inputs: x(), deadline: 200 }, 0);
    expect(c.nextWakeAt()).toBe(200);
    expect(c.tick(200).map(codeOf)).toEqual(['timeout']);
    c.handle('a', { type: 'heartbeat' }, 400);
    const t = c.tick(500);
    expect(t.map(codeOf)).toEqual(['timeout', 'send']);
    expect(t[1]).toMatchObject({ type: 'send', sessionId: 'a', message: { type: 'cancel', requestIds: ['r1'] } });
    // The late result is absorbed, not answered twice.
    expect(responses(c.handle('a', { type: 'result', requestIds: ['r1'], outputs: x() }, 600))).toEqual([]);
  });

  it('re-dispatches in-flight work once when a session disconnects, then fails it clearly', () => {
    const c = make({ maxBatch: 1 });
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    c.join(joinMsg('c'), 0);
    const first = sends(c.submit({ id: 'r1', model: 'm', inputs: x() }, 0))[0];
    const second = sends(c.disconnect(first?.sessionId as string, 10))[0];
    expect(second?.requestIds).toEqual(['r1']);
    expect(second?.sessionId).not.toBe(first?.sessionId);
    const last = c.disconnect(second?.sessionId as string, 20);
    expect(last.map(codeOf)).toEqual(['unavailable']);
    expect(c.metrics().redispatched).toBe(1);
  });

  it('expires a silent session by lease and backs it off exponentially when it rejoins', () => {
    const c = make({ maxBatch: 1, backoffBaseMs: 1000 });
    c.join(joinMsg('a'), 0);
    c.submit({ id: 'r1', model: 'm', inputs: x(), deadline: 60_000 }, 0);
    const t = c.tick(1000);
    expect(t[0]).toEqual({ type: 'close', sessionId: 'a', code: CLOSE_LEASE_EXPIRED, reason: 'no heartbeat for 1000 ms' });
    // a was the only session: r1 is requeued, then fails for lack of any session.
    expect(t.map(codeOf)).toEqual(['close', 'unavailable']);
    const back = c.join(joinMsg('a'), 1100);
    c.submit({ id: 'r2', model: 'm', inputs: x(), deadline: 60_000 }, 1100);
    expect(sends(back.actions)).toEqual([]);
    expect(c.sessions()[0]?.backedOffUntil).toBe(2000);
    expect(c.nextWakeAt()).toBe(2000);
    expect(sends(c.tick(2000)).map((s) => s.requestIds)).toEqual([['r2']]);
    // A second failure doubles the backoff.
    c.disconnect('a', 2100);
    c.join(joinMsg('a'), 2100);
    expect(c.sessions()[0]?.backedOffUntil).toBe(2100 + 2000);
  });

  it('batches compatible requests up to the smaller max batch and splits the outputs back', () => {
    const c = make({ maxBatch: 3, maxDelayMs: 5 });
    c.join(joinMsg('a', { models: [{ name: 'm', revision: '1', maxBatch: 8 }], capacity: { maxInFlight: 2, requestsPerSecond: 10 } }), 0);
    // An idle session takes the first request at once; being busy, it waits for company.
    expect(sends(c.submit({ id: 'r0', model: 'm', inputs: x(1, 7) }, 0)).map((s) => s.requestIds)).toEqual([['r0']]);
    expect(c.submit({ id: 'r1', model: 'm', inputs: x(1) }, 0)).toEqual([]);
    expect(c.submit({ id: 'odd', model: 'm', inputs: x(1, 5) }, 1)).toEqual([]);
    const sent = sends(c.submit({ id: 'r2', model: 'm', inputs: x(2) }, 2));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ requestIds: ['r1', 'r2'], batchSizes: [1, 2] });
    expect(sent[0]?.inputs.x?.dims).toEqual([3, 2]);
    expect([...(sent[0]?.inputs.x?.data as Float32Array)]).toEqual([1, 1, 2, 2, 2, 2]);
    const y = { type: 'float32' as const, dims: [3], data: new Float32Array([10, 20, 21]) };
    const out = responses(c.handle('a', { type: 'result', requestIds: ['r1', 'r2'], outputs: { y }, computeMs: 7.5 }, 10));
    expect(out.map((r) => r.response.type === 'result' && [...(r.response.outputs.y?.data as Float32Array)])).toEqual([[10], [20, 21]]);
    // Each request of the batch learns the session's compute time for it (Server-Timing's `compute`).
    expect(out.map((r) => r.response.type === 'result' && r.response.computeMs)).toEqual([7.5, 7.5]);
    expect(out).toHaveLength(2);
  });

  it('holds a part-full batch for maxDelayMs only while the session is busy, then sends it', () => {
    const c = make({ maxBatch: 4, maxDelayMs: 5 });
    c.join(joinMsg('a', { capacity: { maxInFlight: 2, requestsPerSecond: 10 } }), 0);
    expect(sends(c.submit({ id: 'r0', model: 'm', inputs: x() }, 0)).map((s) => s.requestIds)).toEqual([['r0']]);
    expect(c.submit({ id: 'r1', model: 'm', inputs: x() }, 1)).toEqual([]);
    expect(c.nextWakeAt()).toBe(6);
    expect(sends(c.tick(6)).map((s) => s.requestIds)).toEqual([['r1']]);
  });

  it('sends a lone request to an idle session at once, without waiting out the batching window', () => {
    const c = make({ maxBatch: 8, maxDelayMs: 50 });
    c.join(joinMsg('a', { models: [{ name: 'm', revision: '1', maxBatch: 8 }] }), 0);
    expect(sends(c.submit({ id: 'r1', model: 'm', inputs: x() }, 0)).map((s) => s.requestIds)).toEqual([['r1']]);
    // Busy now (maxInFlight 1): the next ones queue and leave together when it frees.
    expect(c.submit({ id: 'r2', model: 'm', inputs: x() }, 1)).toEqual([]);
    expect(c.submit({ id: 'r3', model: 'm', inputs: x() }, 2)).toEqual([]);
    const next = sends(c.handle('a', { type: 'result', requestIds: ['r1'], outputs: { y: x().x as never } }, 20));
    expect(next.map((s) => s.requestIds)).toEqual([['r2', 'r3']]);
  });

  it('blind round-robin ignores free slots: every session gets its turn, busy or not', () => {
    const c = make({ maxBatch: 1, policy: 'blind-round-robin' });
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    const sent = ['r1', 'r2', 'r3', 'r4', 'r5'].flatMap((id) => sends(c.submit({ id, model: 'm', inputs: x() }, 1)));
    expect(sent.map((s) => s.sessionId)).toEqual(['a', 'b', 'a', 'b', 'a']);
    expect(c.metrics().queueDepth).toEqual([]);
  });

  it('passes a session error through and answers a bad batch output with backend-error', () => {
    const c = make({ maxBatch: 2, maxDelayMs: 0 });
    c.join(joinMsg('a', { capacity: { maxInFlight: 2, requestsPerSecond: 10 } }), 0);
    c.submit({ id: 'r1', model: 'm', inputs: x() }, 0);
    const err = { name: 'TesseraError' as const, code: 'backend-error' as const, message: 'kernel failed' };
    expect(responses(c.handle('a', { type: 'error', requestIds: ['r1'], error: err }, 1))[0]?.response).toEqual({ type: 'error', error: err });
    c.handle('a', { type: 'leave' }, 2);
    c.join(joinMsg('a', { capacity: { maxInFlight: 1, requestsPerSecond: 10 } }), 3);
    c.submit({ id: 'r2', model: 'm', inputs: x() }, 3);
    c.submit({ id: 'r3', model: 'm', inputs: x() }, 3);
    const bad = c.handle('a', { type: 'result', requestIds: ['r2'], outputs: x() }, 4);
    expect(bad.map(codeOf)).toEqual(['ok', 'send']);
    const wrong = c.handle('a', { type: 'result', requestIds: ['r3'], outputs: { y: { type: 'float32', dims: [5], data: new Float32Array(5) } } }, 5);
    expect(wrong.map(codeOf)).toEqual(['ok']);
  });

  it('rejects results for batches it never sent, and duplicate request ids', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    const a = c.handle('a', { type: 'result', requestIds: ['ghost'], outputs: x() }, 1);
    expect(a[0]).toMatchObject({ type: 'send', message: { type: 'error', error: { code: 'bad-request' } } });
    c.submit({ id: 'r1', model: 'm', inputs: x() }, 0);
    expect(() => c.submit({ id: 'r1', model: 'm', inputs: x() }, 0)).toThrow(/already in progress/);
  });

  it('survives hibernation: a session rebuilt from its snapshot keeps its measured rate and lease', () => {
    const c = make({ maxBatch: 1 });
    c.join(joinMsg('a'), 0);
    for (let i = 0; i < 20; i++) {
      c.submit({ id: `r${i}`, model: 'm', inputs: x() }, i * 100);
      c.handle('a', { type: 'result', requestIds: [`r${i}`], outputs: x() }, i * 100 + 50);
    }
    const snap = c.snapshotSession('a');
    const fresh = make({ maxBatch: 1 });
    fresh.restoreSession(JSON.parse(JSON.stringify(snap)), 2000);
    expect(fresh.sessions()[0]?.rate).toBeCloseTo(c.sessions()[0]?.rate as number, 6);
    expect(sends(fresh.submit({ id: 'after', model: 'm', inputs: x() }, 2001))[0]?.sessionId).toBe('a');
  });

  it('learns a measured rate from busy time', () => {
    const c = make({ maxBatch: 1, rateWindowMs: 500 });
    c.join(joinMsg('a', { capacity: { maxInFlight: 1, requestsPerSecond: 1000 } }), 0);
    let t = 0;
    for (let i = 0; i < 100; i++) {
      c.submit({ id: `r${i}`, model: 'm', inputs: x() }, t);
      t += 40; // 25 per second
      c.handle('a', { type: 'result', requestIds: [`r${i}`], outputs: x() }, t);
      t += 1000; // idle gaps do not count
    }
    expect(c.sessions()[0]?.rate).toBeGreaterThan(24);
    expect(c.sessions()[0]?.rate).toBeLessThan(26);
  });

  it('renders metrics in Prometheus text format', () => {
    const c = make({ maxBatch: 1 });
    c.join(joinMsg('a'), 0);
    c.submit({ id: 'r1', model: 'm', inputs: x() }, 0);
    c.submit({ id: 'r2', model: 'm', inputs: x() }, 0);
    c.handle('a', { type: 'result', requestIds: ['r1'], outputs: x(), computeMs: 20 }, 30);
    c.submit({ id: 'r3', model: 'na"me', inputs: x() }, 0);
    const text = renderPrometheus(c.metrics());
    expect(text).toContain('# HELP tessera_sessions ');
    expect(text).toContain('# TYPE tessera_request_duration_seconds histogram');
    expect(text).toContain('tessera_sessions 1\n');
    expect(text).toContain('tessera_requests_total{model="m",status="ok"} 1');
    expect(text).toContain('tessera_requests_total{model="na\\"me",status="unavailable"} 1');
    expect(text).toContain('tessera_in_flight{model="m"} 1');
    expect(text).toContain('tessera_request_duration_seconds_bucket{model="m",le="0.025"} 0');
    expect(text).toContain('tessera_request_duration_seconds_bucket{model="m",le="0.05"} 1');
    expect(text).toContain('tessera_request_duration_seconds_bucket{model="m",le="+Inf"} 1');
    expect(text).toContain('tessera_request_duration_seconds_sum{model="m"} 0.03');
    expect(text).toContain('tessera_request_duration_seconds_count{model="m"} 1');
    // The session's 20 ms of the request's 30: the other 10 were the coordinator's.
    expect(text).toContain('tessera_batch_compute_seconds_bucket{model="m",le="0.01"} 0');
    expect(text).toContain('tessera_batch_compute_seconds_bucket{model="m",le="0.025"} 1');
    expect(text).toContain('tessera_batch_compute_seconds_sum{model="m"} 0.02');
    // Every sample line is "name{labels} value"; each family declared once.
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{.*\})? [-+\d.eInf]+)$/);
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]);
    expect(new Set(types).size).toBe(types.length);
  });
});
