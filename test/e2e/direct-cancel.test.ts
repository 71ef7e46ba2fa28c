/**
 * Cancellation on client disconnect, end to end over real HTTP: the Worker's
 * deploy bundle on workerd's own socket (bench/lib/direct-worker.ts: no Node
 * proxy, no entry worker, as Cloudflare reaches a Worker), a Node session on
 * a real WebSocket, and clients that go away with a TCP reset. Under `wrangler
 * dev`'s public port the same disconnect never reaches the Worker; here it
 * fires request.signal, the queued requests leave the queue and the running
 * one is stopped at its session (worker/lib/coordinator-client.ts,
 * cancelOnDisconnect).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import { connectSession, type SessionClient } from '../../src/transport/session-client.ts';
import { startDirectWorker, type DirectWorker } from '../../bench/lib/direct-worker.ts';
import { slowEcho } from '../helpers/slow-echo.ts';

const JOIN = 'direct-cancel-join';
const KEY = 'direct-cancel-key';
let worker: DirectWorker;
let session: SessionClient | undefined;

beforeAll(async () => {
  worker = await startDirectWorker({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: '{"maxDelayMs":0}' } });
}, 90_000);
afterAll(async () => {
  await session?.close();
  await worker?.stop();
});

const offer: ModelOffer = { name: 'slow', revision: 'r1', maxBatch: 1, inputs: [{ name: 'x', type: 'float32', shape: [-1, 1] }], outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }] };

/** A predict of `x`; with `resetAfterMs` the client resets its connection then (resolves 0). */
const predict = (x: number, resetAfterMs?: number): Promise<number> => new Promise((resolve) => {
  const body = JSON.stringify({ instances: [[x]] });
  const req = request(`${worker.base}/v1/models/slow:predict`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
  }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode ?? 0));
  });
  req.on('error', () => resolve(0));
  if (resetAfterMs !== undefined) req.once('socket', (socket) => setTimeout(() => socket.resetAndDestroy(), resetAfterMs));
  req.end(body);
});

const queueDepth = async (): Promise<number> => {
  const text = await (await fetch(`${worker.base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).text();
  return Number(/^tessera_queue_depth\{[^}]*model="slow"[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0);
};

describe('disconnect on the direct socket', () => {
  it('takes queued requests out of the queue and stops the running one at its session', async () => {
    const stats = { runs: 0, aborted: 0, values: [] as number[] };
    // Every request but x = 9 would compute for 20 s.
    const runModel = slowEcho((x) => (x === 9 ? 0 : 20_000), stats);
    session = connectSession({ url: worker.base, token: JOIN, models: [offer], device: 'test', capacity: { maxInFlight: 1, requestsPerSecond: 50 }, runModel, backoff: { baseMs: 20, maxMs: 100 } });
    await session.joined();

    // The pool reports to the directory (/metrics) at most once a second: reset after 2.5 s, once the queue showed.
    const abandoned = [1, 2, 3].map((x) => predict(x, 2500));
    // One runs, two wait in the queue, until the clients reset.
    await expect.poll(queueDepth, { timeout: 2000, interval: 100 }).toBe(2);
    expect(stats.values).toHaveLength(1);
    expect(await Promise.all(abandoned)).toEqual([0, 0, 0]);

    await expect.poll(queueDepth, { timeout: 5000, interval: 50 }).toBe(0);
    await expect.poll(() => stats.aborted, { timeout: 5000, interval: 50 }).toBe(1);
    const t0 = performance.now();
    expect(await predict(9)).toBe(200);
    // Nothing abandoned ran before it: without cancellation it would wait behind 20 s runs.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(stats.values).toHaveLength(2);
    expect(stats.values[1]).toBe(9);
  }, 30_000);
});
