/**
 * The inference APIs and the coordinator Durable Object, in workerd: real
 * session clients (src/transport/session-client.ts) join over WebSockets
 * through the Worker's fetch, and KServe / OIP requests go through the Worker
 * to the coordinator and back. Config for this project (vitest.config.ts):
 * queueLimit 4, maxDelayMs 0, join token `test-join-token`, API keys
 * `test-key-1,test-key-2`.
 */
import { SELF, env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSession, type RunModel, type SessionClient } from '../../src/transport/session-client.ts';
import type { ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { SelfWebSocket } from './self-websocket.ts';

const BASE = 'https://tessera.test';
const KEY = 'test-key-2';
const auth = { Authorization: `Bearer ${KEY}` };
const sessions: SessionClient[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

/** y = x * factor, x float32 [-1, 3]. */
function offer(name: string, maxBatch = 8): ModelOffer {
  return {
    name, revision: 'r1', maxBatch,
    inputs: [{ name: 'x', type: 'float32', shape: [-1, 3] }],
    outputs: [{ name: 'y', type: 'float32', shape: [-1, 3] }],
  };
}
const times = (factor: number): RunModel => async (_model, inputs) => {
  const x = inputs.x!;
  return { y: { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * factor) } } satisfies TensorMap;
};

async function join(models: ModelOffer[], runModel: RunModel, token = 'test-join-token', maxInFlight = 4): Promise<SessionClient> {
  const s = connectSession({
    url: `${BASE}/v1/sessions`, token, models, device: 'test', capacity: { maxInFlight, requestsPerSecond: 100 },
    runModel, WebSocket: SelfWebSocket, backoff: { baseMs: 10, maxMs: 50 },
  });
  sessions.push(s);
  await s.joined();
  return s;
}

const post = (path: string, body: unknown, headers: Record<string, string> = auth): Promise<Response> =>
  SELF.fetch(`${BASE}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const get = (path: string, headers: Record<string, string> = auth): Promise<Response> => SELF.fetch(`${BASE}${path}`, { headers });
/** A model's pool object, as the Worker names it (worker/lib/coordinator-client.ts poolOf). */
const pool = (model: string) => env.COORDINATOR.get(env.COORDINATOR.idFromName(`pool:${model}`));
const until = async (ok: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
};
/** /metrics reads the directory, which hears from the pools within about a second: wait for a line rather than race the report. */
const metricsMatch = async (re: RegExp): Promise<string> => {
  let text = '';
  await until(async () => re.test((text = await (await get('/metrics')).text())), `/metrics to match ${re}`);
  return text;
};
const errorOf = async (res: Response): Promise<{ code: string; message: string }> => ((await res.json()) as { error: { code: string; message: string } }).error;

describe('auth', () => {
  it('answers 401 with the same body for a missing and a wrong API key', async () => {
    const missing = await get('/v1/models', {});
    const wrong = await get('/v1/models', { Authorization: 'Bearer test-key-3' });
    expect(missing.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(await missing.text()).toBe(await wrong.text());
    expect((await post('/v2/models/m/infer', {}, { Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await get('/metrics', {})).status).toBe(401);
    expect((await get('/v1/models', { Authorization: 'Bearer test-key-1' })).status).toBe(200);
  });

  it('refuses a session with a wrong join token (close 4401, no reconnect loop)', async () => {
    await expect(join([offer('never')], times(1), 'wrong-token')).rejects.toMatchObject({ code: 'unauthorized' });
    expect((await pool('never').listModels()).map((m) => m.name)).not.toContain('never');
  });

  it('needs a WebSocket upgrade on the session endpoint', async () => {
    const res = await get('/v1/sessions', {});
    expect(res.status).toBe(426);
    expect(res.headers.get('Upgrade')).toBe('websocket');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad-request');
  });
});

describe('round trips', () => {
  it('KServe v1: list, describe, predict', async () => {
    await join([offer('double')], times(2));
    expect(await (await get('/v1/models')).json()).toEqual({ models: ['double'], object: 'list', data: [{ id: 'double', object: 'model', created: 0, owned_by: 'tessera' }] });
    expect(await (await get('/v1/models/double')).json()).toEqual({ name: 'double', ready: true });
    const res = await post('/v1/models/double:predict', { instances: [[1, 2, 3], [4, 5, 6]] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ predictions: [[2, 4, 6], [8, 10, 12]] });
    // named instances
    const named = await post('/v1/models/double:predict', { instances: [{ x: [1, 1, 1] }] });
    expect(await named.json()).toEqual({ predictions: [[2, 2, 2]] });
  });

  it('OIP v2: health, metadata, ready, infer; /metrics counts the requests', async () => {
    // The previous test's session closed (SelfWebSocket reports the close before the pool has seen it): its pool leaves the directory just after.
    await until(async () => (await get('/v2/health/ready', {})).status === 503, 'no pool ready');
    expect(await (await get('/v2/health/ready', {})).json()).toEqual({ ready: false });
    await join([offer('triple')], times(3));
    expect((await get('/v2/health/live', {})).status).toBe(200);
    expect(await (await get('/v2/health/ready', {})).json()).toEqual({ ready: true });
    expect(await (await get('/v2/models/triple')).json()).toEqual({
      name: 'triple', versions: ['r1'], platform: 'onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    });
    expect((await get('/v2/models/triple/ready')).status).toBe(200);
    const res = await post('/v2/models/triple/infer', { id: 'q1', inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [[1, 2, 3]] }] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ model_name: 'triple', model_version: 'r1', id: 'q1', outputs: [{ name: 'y', shape: [1, 3], datatype: 'FP32', data: [3, 6, 9] }] });
    // Traced: Server-Timing says where the time went, including the session's own compute time.
    const traced = await post('/v2/models/triple/infer', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }, { ...auth, 'X-Tessera-Timing': '1' });
    expect(traced.status).toBe(200);
    expect(traced.headers.get('Server-Timing')).toMatch(/^worker;dur=\d+, rpc;dur=\d+, queue;dur=\d+, session;dur=\d+, compute;dur=[\d.]+$/);
    expect(res.headers.get('Server-Timing')).toBeNull();
    // Both answered requests carried the session's compute time; series carry model and pool.
    const metrics = await metricsMatch(/tessera_batch_compute_seconds_count\{model="triple",pool="triple"\} 2\n/);
    expect(metrics).toMatch(/model="triple"/);
    await metricsMatch(/tessera_sessions 1\n/);
  });
});

describe('bad input never reaches a session', () => {
  it('answers 400/404/413 with a code and a message', async () => {
    let calls = 0;
    await join([offer('strict')], async (m, i, s) => {
      calls++;
      return times(1)(m, i, s);
    });
    const cases: [string, unknown, number, string, RegExp][] = [
      ['/v2/models/strict/infer', '{"inputs": [', 400, 'bad-request', /not valid JSON/],
      ['/v2/models/nope/infer', { inputs: [] }, 404, 'not-found', /model "nope" is not served/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'z', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }, 400, 'bad-request', /unknown input "z"; model "strict" takes x/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, 400, 'bad-request', /shape \[1, 4\] does not match the model's \[-1, 3\]/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] }] }, 400, 'bad-request', /datatype must be FP32/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'toString', data: [1, 2, 3] }] }, 400, 'bad-request', /datatype must be one of BOOL/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2] }] }, 400, 'bad-request', /holds 3 elements but data has 2/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 'a', 3] }] }, 400, 'bad-request', /element 1 must be a finite number/],
      ['/v2/models/strict/infer', { inputs: [{ name: 'x', shape: [400_000, 3], datatype: 'FP32', data: [] }] }, 413, 'payload-too-large', /more than 1048576 elements/],
      ['/v1/models/strict:predict', { instances: [[1, 2, 3], [1, 2]] }, 400, 'bad-request', /ragged array/],
      ['/v1/models/strict:predict', { rows: [] }, 400, 'bad-request', /"instances" array/],
    ];
    for (const [path, body, status, code, message] of cases) {
      const res = await post(path, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      const error = await errorOf(res);
      expect(error.code).toBe(code);
      expect(error.message).toMatch(message);
    }
    const big = await post('/v2/models/strict/infer', `{"inputs": [${' '.repeat(9 * 1024 * 1024)}]}`);
    expect(big.status).toBe(413);
    expect((await errorOf(big)).message).toMatch(/larger than 8388608 bytes/);
    expect(calls).toBe(0);
  });
});

describe('coordination', () => {
  it('answers 429 with Retry-After when the queue is full, and serves what it admitted', async () => {
    const release: (() => void)[] = [];
    await join([offer('slow', 1)], async (m, i, s) => {
      await new Promise<void>((r) => release.push(r));
      return times(1)(m, i, s);
    }, 'test-join-token', 1);
    const body = { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] };
    // 1 in flight + 4 queued (queueLimit 4) are admitted; the 6th is refused.
    const admitted = [1, 2, 3, 4, 5].map(() => post('/v2/models/slow/infer', body));
    await until(() => release.length === 1, 'first dispatch');
    await until(async () => (await (await get('/metrics')).text()).includes('tessera_queue_depth{model="slow",pool="slow"} 4'), 'queue of 4');
    const refused = await post('/v2/models/slow/infer', body);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect((await errorOf(refused)).code).toBe('rate-limited');
    const drain = setInterval(() => release.splice(0).forEach((r) => r()), 5);
    const statuses = await Promise.all(admitted.map(async (p) => (await p).status));
    clearInterval(drain);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
  });

  it('re-dispatches a request in flight when its session disconnects', async () => {
    let started = false;
    const a = await join([offer('shared')], async () => {
      started = true;
      return new Promise<TensorMap>(() => undefined); // never answers
    });
    const pending = post('/v1/models/shared:predict', { instances: [[1, 2, 3]] });
    await until(() => started, 'dispatch to the first session');
    await join([offer('shared')], times(10));
    await a.close();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ predictions: [[10, 20, 30]] });
    await metricsMatch(/tessera_redispatched_total\{pool="shared"\} 1\n/);
  });

  it('keeps sessions routable across evictDurableObject', async () => {
    const s = await join([offer('durable')], times(5));
    const id = s.sessionId;
    const stub = () => pool('durable');
    await runInDurableObject(stub(), async (instance) => {
      expect((await instance.sessionList()).map((x) => x.id)).toContain(id);
    });
    await evictDurableObject(stub());
    // After eviction the object is rebuilt: from socket attachments if the
    // sockets survived, else the client re-joins under the same session id.
    await until(async () => (await stub().sessionList()).some((x) => x.id === id), 'session known again');
    const res = await post('/v1/models/durable:predict', { instances: [[1, 1, 1]] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ predictions: [[5, 5, 5]] });
    expect(s.sessionId).toBe(id);
  });
});
