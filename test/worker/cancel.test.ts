/**
 * Cancellation through the real Worker code and coordinator Durable Object in
 * workerd: the inference routes get a Request whose signal the test aborts,
 * which is what workerd does on Cloudflare when the HTTP client disconnects
 * (locally only on a connection reset, not through wrangler dev's public port:
 * see worker/lib/coordinator-client.ts and test/e2e/direct-cancel.test.ts). A queued request leaves the queue; a
 * running one is cancelled at its session, which then takes the next request.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../worker/app.ts';
import { connectSession, type SessionClient } from '../../src/transport/session-client.ts';
import type { ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import { slowEcho } from '../helpers/slow-echo.ts';
import { SelfWebSocket } from './self-websocket.ts';

const BASE = 'https://tessera.test';
const auth = { Authorization: 'Bearer test-key-1' };
const sessions: SessionClient[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

const offer: ModelOffer = { name: 'cancel', revision: 'r1', maxBatch: 1, inputs: [{ name: 'x', type: 'float32', shape: [-1, 1] }], outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }] };
const until = async (ok: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 600; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe('cancellation on client disconnect', () => {
  it('takes a queued request out of the queue and stops a running one at its session, for KServe and OIP', async () => {
    const stats = { runs: 0, aborted: 0, values: [] as number[] };
    // 1 (and 2) would run for 20 s; 3 answers at once.
    const runModel = slowEcho((x) => (x === 3 ? 0 : 20_000), stats);
    const s = connectSession({ url: `${BASE}/v1/sessions`, token: 'test-join-token', models: [offer], device: 'test', capacity: { maxInFlight: 1, requestsPerSecond: 50 }, runModel, WebSocket: SelfWebSocket, backoff: { baseMs: 10, maxMs: 50 } });
    sessions.push(s);
    await s.joined();

    const app = createApp();
    const call = (path: string, body: unknown, signal?: AbortSignal) => {
      const ctx = createExecutionContext();
      const res = app.fetch(new Request(`${BASE}${path}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) }), env, ctx);
      return Promise.resolve(res).then(async (r) => {
        await waitOnExecutionContext(ctx);
        return r;
      });
    };
    const depth = async () => {
      const text = await (await app.fetch(new Request(`${BASE}/metrics`, { headers: auth }), env, createExecutionContext())).text();
      return Number(/tessera_queue_depth\{model="cancel",pool="cancel"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const running = new AbortController();
    const queued = new AbortController();
    const first = call('/v1/models/cancel:predict', { instances: [[1]] }, running.signal);
    await until(() => stats.runs === 1, 'the first request to run');
    const second = call('/v2/models/cancel/infer', { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [2] }] }, queued.signal);
    await until(async () => (await depth()) === 1, 'the second request to queue');

    queued.abort();
    await until(async () => (await depth()) === 0, 'the queued request to leave the queue');
    expect(stats.runs).toBe(1);
    expect((await second).status).toBe(503);

    running.abort();
    await until(() => stats.aborted === 1, 'the session to be told to stop');
    expect((await first).status).toBe(503);

    const next = await call('/v1/models/cancel:predict', { instances: [[3]] });
    expect(next.status).toBe(200);
    expect(stats.values).toEqual([1, 3]);
  });
});
