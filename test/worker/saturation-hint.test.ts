/**
 * The isolate's saturation hint (worker/lib/saturation-hint.ts) in workerd,
 * through the real Worker, coordinator Durable Object and session client:
 * after a pool's 429, the next request of that model is refused by the
 * Worker without reaching the pool (its own 429 count does not move), on
 * every inference API; a result clears the hint; without one it expires,
 * and the pool admits again. Config (vitest.config.ts): queueLimit 4.
 */
import { SELF, env } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSession, type RunModel, type SessionClient } from '../../src/transport/session-client.ts';
import type { ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import { MAX_HOLD_MS } from '../../worker/lib/saturation-hint.ts';
import { SelfWebSocket } from './self-websocket.ts';

const BASE = 'https://tessera.test';
const auth = { Authorization: 'Bearer test-key-1' };
const sessions: SessionClient[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

const offer = (name: string): ModelOffer => ({ name, revision: 'r1', maxBatch: 1, inputs: [{ name: 'x', type: 'float32', shape: [-1, 1] }], outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }] });
const until = async (ok: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 600; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
};

/** A session that holds every request until the test releases it. */
async function holdingSession(model: string, held: (() => void)[]): Promise<SessionClient> {
  const runModel: RunModel = (_m, inputs) => new Promise((resolve) => held.push(() => resolve({ y: inputs.x! })));
  const s = connectSession({ url: `${BASE}/v1/sessions`, token: 'test-join-token', models: [offer(model)], device: 'test', capacity: { maxInFlight: 1, requestsPerSecond: 100 }, runModel, WebSocket: SelfWebSocket, backoff: { baseMs: 10, maxMs: 50 } });
  sessions.push(s);
  await s.joined();
  return s;
}

const post = (path: string, body: unknown): Promise<Response> =>
  SELF.fetch(`${BASE}${path}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const predict = (model: string, x = 1) => post(`/v1/models/${model}:predict`, { instances: [[x]] });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
/** The pool object's own count of the 429s it decided (read from the object, not the directory). */
const poolRefusals = async (model: string): Promise<number> => {
  const text = await env.COORDINATOR.get(env.COORDINATOR.idFromName(`pool:${model}`)).metricsText();
  return Number(new RegExp(`tessera_requests_total\\{[^}]*model="${model}"[^}]*status="rate-limited"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
};
const queueDepth = async (model: string): Promise<number> => {
  const text = await env.COORDINATOR.get(env.COORDINATOR.idFromName(`pool:${model}`)).metricsText();
  return Number(new RegExp(`tessera_queue_depth\\{[^}]*model="${model}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

/** 1 in flight + 4 queued (queueLimit 4): the pool is full; the next request is its 429. */
async function saturate(model: string, held: (() => void)[]): Promise<Promise<Response>[]> {
  const admitted = [1, 2, 3, 4, 5].map((x) => predict(model, x));
  await until(() => held.length === 1, 'the first dispatch');
  await until(async () => (await queueDepth(model)) === 4, 'a queue of 4');
  const refused = await predict(model);
  expect(refused.status).toBe(429);
  expect((await errorOf(refused)).details.reason).toBe('queue-full');
  expect(await poolRefusals(model)).toBe(1);
  return admitted;
}

describe('saturation hint', () => {
  it('refuses the next requests at the Worker on every inference API, without reaching the pool, until a result clears it', async () => {
    const held: (() => void)[] = [];
    await holdingSession('hinted', held);
    const admitted = await saturate('hinted', held);

    const again = await predict('hinted');
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    const error = await errorOf(again);
    expect(error.code).toBe('rate-limited');
    expect(error.details).toMatchObject({ reason: 'saturated-hint', poolReason: 'queue-full', waitedMs: 0 });
    // Before the body is read: a body that would be a 400 is refused the same way.
    expect((await post('/v1/models/hinted:predict', 'not json')).status).toBe(429);
    expect((await post('/v2/models/hinted/infer', { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }] })).status).toBe(429);
    expect((await post('/v1/embeddings', { model: 'hinted', input: 'hi' })).status).toBe(429);
    expect((await post('/v1/chat/completions', { model: 'hinted', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(429);
    // None of them reached the pool.
    expect(await poolRefusals('hinted')).toBe(1);
    expect(await queueDepth('hinted')).toBe(4);
    // Routes that are not inference are untouched.
    expect((await SELF.fetch(`${BASE}/v1/models/hinted`, { headers: auth })).status).toBe(200);

    // One result: the pool has room again, and the hint is gone at once.
    held.shift()!();
    expect((await admitted[0]!).status).toBe(200);
    const next = predict('hinted', 9);
    await until(async () => (await queueDepth('hinted')) === 4, 'the next request to reach the pool');
    expect(await poolRefusals('hinted')).toBe(1);
    const drain = setInterval(() => held.splice(0).forEach((r) => r()), 5);
    expect((await Promise.all([...admitted.slice(1), next])).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    clearInterval(drain);
  });

  it('expires without a result: room the Worker never heard of is used once the hint has run out', async () => {
    const held: (() => void)[] = [];
    await holdingSession('expiring', held);
    const admitted = await saturate('expiring', held);
    const setAt = Date.now();
    // A second session joins during the hint (session routes never consult it) and takes one queued request: room, but no answer reached the Worker.
    await holdingSession('expiring', held);
    await until(async () => (await queueDepth('expiring')) === 3, 'the second session to take a queued request');
    // Still inside the hint (a precondition: a machine too slow to get here in time fails here, not silently).
    expect(Date.now() - setAt).toBeLessThan(MAX_HOLD_MS - 100);
    const hinted = await predict('expiring');
    expect(hinted.status).toBe(429);
    expect((await errorOf(hinted)).details.reason).toBe('saturated-hint');
    await new Promise((r) => setTimeout(r, MAX_HOLD_MS - (Date.now() - setAt) + 50));
    const later = predict('expiring', 7);
    await until(async () => (await queueDepth('expiring')) === 4, 'the request after the hint to be queued by the pool');
    expect(await poolRefusals('expiring')).toBe(1);
    const drain = setInterval(() => held.splice(0).forEach((r) => r()), 5);
    expect((await Promise.all([...admitted, later])).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    clearInterval(drain);
  });
});
