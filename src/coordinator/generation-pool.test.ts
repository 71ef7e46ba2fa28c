import { describe, expect, it } from 'vitest';
import type { JoinMessage } from '../protocol/coordinator-messages.ts';
import type { CoordinatorAction, GenerationEvent } from './actions.ts';
import { Coordinator } from './coordinator.ts';
import { renderPrometheus } from './render-prometheus.ts';

const gen = { name: 'llm', revision: '1', maxBatch: 1, task: 'text-generation' as const, contextLength: 64 };
const joinMsg = (id: string, opts: Partial<JoinMessage> = {}): JoinMessage => ({
  type: 'join', token: 't', sessionId: id, device: 'wasm', models: [gen], capacity: { maxInFlight: 1, requestsPerSecond: 10 }, ...opts,
});
const make = (config = {}) => new Coordinator({ config: { maxDelayMs: 0, leaseMs: 1000, heartbeatMs: 300, requestTimeoutMs: 500, ...config }, random: () => 0.5 });
const generates = (a: CoordinatorAction[]) => a.flatMap((x) => (x.type === 'send' && x.message.type === 'generate' ? [{ sessionId: x.sessionId, requestId: x.message.requestId }] : []));
const cancels = (a: CoordinatorAction[]) => a.flatMap((x) => (x.type === 'send' && x.message.type === 'cancel' ? [{ sessionId: x.sessionId, ids: x.message.requestIds }] : []));
const events = (a: CoordinatorAction[]): (GenerationEvent & { requestId: string })[] => a.flatMap((x) => (x.type === 'stream' ? [{ requestId: x.requestId, ...x.event }] : []));
const codes = (a: CoordinatorAction[]) => events(a).map((e) => (e.type === 'error' ? e.error.code : e.type));
const chunk = (requestId: string, text: string, sessionMs?: number) => ({ type: 'chunk' as const, requestId, chunk: { text, tokenIds: [1] }, ...(sessionMs !== undefined ? { sessionMs } : {}) });
const done = (requestId: string) => ({ type: 'done' as const, requestId, result: { text: 'ab', finishReason: 'length' as const, promptTokens: 3, completionTokens: 2 } });
const request = (id: string, deadline?: number) => ({ id, model: 'llm', request: { prompt: 'hey' }, ...(deadline !== undefined ? { deadline } : {}) });

describe('Coordinator: text generation', () => {
  it('dispatches one request per session slot, streams chunks through in order, and ends with done', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    expect(generates(c.submitGeneration(request('g1'), 0))).toEqual([{ sessionId: 'a', requestId: 'g1' }]);
    // The slot is taken: the next one queues.
    expect(generates(c.submitGeneration(request('g2'), 1))).toEqual([]);
    expect(events(c.handle('a', chunk('g1', 'a', 4), 10))).toEqual([{ requestId: 'g1', type: 'chunk', chunk: { text: 'a', tokenIds: [1] }, sessionMs: 4 }]);
    // sessionMs only rides on the first chunk.
    expect(events(c.handle('a', chunk('g1', 'b', 9), 20))).toEqual([{ requestId: 'g1', type: 'chunk', chunk: { text: 'b', tokenIds: [1] } }]);
    const end = c.handle('a', done('g1'), 30);
    expect(codes(end)).toEqual(['done']);
    expect(events(end)[0]).toMatchObject({ type: 'done', sessionId: 'a', result: { completionTokens: 2 } });
    // The freed slot takes the queued request at once.
    expect(generates(end)).toEqual([{ sessionId: 'a', requestId: 'g2' }]);
  });

  it('shares a session slot with inference batches', () => {
    const c = make();
    c.join(joinMsg('a', { models: [gen, { name: 'm', revision: '1', maxBatch: 1 }] }), 0);
    c.submitGeneration(request('g1'), 0);
    const infer = c.submit({ id: 'r1', model: 'm', inputs: { x: { type: 'float32', dims: [1], data: new Float32Array(1) } } }, 0);
    expect(infer.filter((x) => x.type === 'send')).toEqual([]);
    const end = c.handle('a', done('g1'), 5);
    expect(end.some((x) => x.type === 'send' && x.message.type === 'infer')).toBe(true);
  });

  it('re-dispatches a request that streamed nothing when its session dies, once', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    c.submitGeneration(request('g1'), 0);
    const first = c.metrics();
    expect(first.inFlight).toEqual([{ model: 'llm', count: 1 }]);
    const moved = c.disconnect('a', 5);
    expect(generates(moved)).toEqual([{ sessionId: 'b', requestId: 'g1' }]);
    expect(codes(moved)).toEqual([]);
    expect(c.metrics().redispatched).toBe(1);
    // A second failure before the first token is final.
    expect(codes(c.disconnect('b', 6))).toEqual(['unavailable']);
  });

  it('ends a request that has streamed with session-closed when its session dies: never re-dispatched', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    c.submitGeneration(request('g1'), 0);
    c.handle('a', chunk('g1', 'x'), 1);
    const dead = c.disconnect('a', 2);
    expect(generates(dead)).toEqual([]);
    const [e] = events(dead);
    expect(e).toMatchObject({ type: 'error', chunks: 1, error: { code: 'session-closed' } });
    expect(e?.type === 'error' && e.error.message).toMatch(/incomplete/);
  });

  it('cancels a running generation on its session when the client leaves, and drops its late frames', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    c.submitGeneration(request('g1'), 0);
    c.submitGeneration(request('g2'), 0);
    const out = c.cancel('g1', 3);
    expect(cancels(out)).toEqual([{ sessionId: 'a', ids: ['g1'] }]);
    expect(codes(out)).toEqual(['aborted']);
    // The slot went to the queued request.
    expect(generates(out)).toEqual([{ sessionId: 'a', requestId: 'g2' }]);
    expect(c.handle('a', chunk('g1', 'late'), 4)).toEqual([]);
    // A queued one is simply dropped.
    c.submitGeneration(request('g3'), 5);
    const q = c.cancel('g3', 6);
    expect(cancels(q)).toEqual([]);
    expect(codes(q)).toEqual(['aborted']);
    expect(c.cancel('g3', 7)).toEqual([]);
  });

  it('times out a request with no first token by its deadline, and a stream that stalls', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    c.submitGeneration(request('g1', 100), 0);
    c.submitGeneration(request('g2'), 0);
    c.handle('b', chunk('g2', 'x'), 50);
    expect(c.nextWakeAt()).toBe(100);
    c.handle('a', { type: 'heartbeat' }, 90);
    const t = c.tick(100);
    expect(codes(t)).toEqual(['timeout']);
    expect(cancels(t)).toEqual([{ sessionId: 'a', ids: ['g1'] }]);
    // g2 streamed at 50: stalled after requestTimeoutMs (500) of silence.
    expect(c.nextWakeAt()).toBe(550);
    c.handle('b', { type: 'heartbeat' }, 540);
    const s = c.tick(550);
    expect(codes(s)).toEqual(['timeout']);
    expect(events(s)[0]).toMatchObject({ chunks: 1 });
  });

  it('answers unavailable with no session, and rate-limited with Retry-After past the queue limit', () => {
    const c = make({ queueLimit: 1 });
    expect(codes(c.submitGeneration(request('g0'), 0))).toEqual(['unavailable']);
    c.join(joinMsg('a'), 0);
    c.submitGeneration(request('g1'), 0);
    c.submitGeneration(request('g2'), 0);
    const full = c.submitGeneration(request('g3'), 0);
    expect(codes(full)).toEqual(['rate-limited']);
    const e = events(full)[0];
    // Two ahead (one running, one queued) at the assumed 2 s each over one slot.
    expect(e?.type === 'error' && e.retryAfterSeconds).toBe(4);
    expect(() => c.submitGeneration(request('g1'), 0)).toThrow(/already in progress/);
  });

  it('passes a session error through without re-dispatch and records TTFT and tokens in /metrics', () => {
    const c = make();
    c.join(joinMsg('a'), 0);
    c.join(joinMsg('b'), 0);
    c.submitGeneration(request('g1'), 0);
    const err = c.handle('a', { type: 'error', requestIds: ['g1'], error: { name: 'TesseraError', code: 'invalid-argument', message: 'prompt too long' } }, 2);
    expect(codes(err)).toEqual(['invalid-argument']);
    expect(generates(err)).toEqual([]);
    c.submitGeneration(request('g2'), 10);
    c.handle('a', chunk('g2', 'x'), 14);
    c.handle('a', done('g2'), 20);
    const m = c.metrics();
    expect(m.timeToFirstToken).toEqual([expect.objectContaining({ model: 'llm', count: 1, sumSeconds: 0.004 })]);
    expect(m.generatedTokens).toEqual([{ model: 'llm', count: 2 }]);
    expect(m.requests).toEqual(expect.arrayContaining([{ model: 'llm', status: 'ok', count: 1 }, { model: 'llm', status: 'invalid-argument', count: 1 }]));
    const text = renderPrometheus(m);
    expect(text).toContain('tessera_time_to_first_token_seconds_bucket{model="llm",le="0.005"} 1');
    expect(text).toContain('tessera_generated_tokens_total{model="llm"} 2');
  });
});
