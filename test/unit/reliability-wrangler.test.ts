/**
 * Reliability of the real Worker under `wrangler dev` (workerd, the
 * coordinator Durable Object, real HTTP and WebSocket clients): a client
 * that disconnects takes its request out of the queue and stops it on its
 * session; a burst gets 429 at once instead of timing out; a request a
 * session timed out on fails alone while the pool keeps serving; sockets
 * that never join, or join without a token, are closed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import { TesseraError } from '../../src/errors.ts';
import { connectSession, type RunModel, type SessionClient } from '../../src/transport/session-client.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const JOIN = 'reliability-join';
const KEY = 'reliability-key';
let dev: WranglerDev;
const sessions: SessionClient[] = [];

beforeAll(async () => {
  dev = await startWranglerDev({
    vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: JSON.stringify({ maxDelayMs: 0, requestTimeoutMs: 3000, maxBatch: 1 }) },
  });
}, 60_000);
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await dev?.stop();
});

const offer = (name: string): ModelOffer => ({
  name, revision: 'r1', maxBatch: 1,
  inputs: [{ name: 'x', type: 'float32', shape: [-1, 1] }],
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
});

/** Echo after `ms(x)` milliseconds, or at once when the signal fires; counts runs and cancellations. */
function slowEcho(ms: (x: number) => number, stats = { runs: 0, aborted: 0 }): RunModel {
  return (_model, inputs, signal) => new Promise((resolve, reject) => {
    stats.runs += 1;
    const timer = setTimeout(() => resolve({ y: inputs.x! }), ms((inputs.x!.data as Float32Array)[0]!));
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      stats.aborted += 1;
      reject(signal.reason);
    }, { once: true });
  });
}

function join(model: string, runModel: RunModel, requestsPerSecond = 5): SessionClient {
  const s = connectSession({
    url: dev.base, token: JOIN, models: [offer(model)], device: 'test', capacity: { maxInFlight: 1, requestsPerSecond },
    runModel, backoff: { baseMs: 20, maxMs: 100 },
  });
  sessions.push(s);
  return s;
}

const predict = (model: string, value: number, signal?: AbortSignal) => fetch(`${dev.base}/v1/models/${model}:predict`, {
  method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ instances: [[value]] }),
  ...(signal ? { signal } : {}),
});

const metric = async (name: string, model: string): Promise<number> => {
  const text = await (await fetch(`${dev.base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`model="${model}"`));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('reliability against wrangler dev', () => {
  it('a client that disconnects leaves the queue, and its running request is stopped on the session', async () => {
    const stats = { runs: 0, aborted: 0 };
    await join('cancel', slowEcho((x) => (x === 3 ? 50 : 5000), stats)).joined();
    const goneRunning = new AbortController();
    const goneQueued = new AbortController();
    const running = predict('cancel', 1, goneRunning.signal).catch((e: unknown) => e);
    await expect.poll(() => stats.runs, { timeout: 3000 }).toBe(1);
    const queued = predict('cancel', 2, goneQueued.signal).catch((e: unknown) => e);
    await expect.poll(() => metric('tessera_queue_depth', 'cancel'), { timeout: 3000 }).toBe(1);
    goneQueued.abort();
    await queued;
    await expect.poll(() => metric('tessera_queue_depth', 'cancel'), { timeout: 3000 }).toBe(0);
    expect(stats.runs).toBe(1);
    goneRunning.abort();
    await running;
    // The session got a cancel frame for the running one, well before its 5 s run would end.
    await expect.poll(() => stats.aborted, { timeout: 3000 }).toBe(1);
    // The next request runs at once, not behind the abandoned ones.
    const started = Date.now();
    const next = await predict('cancel', 3);
    expect(next.status).toBe(200);
    expect(stats.runs).toBe(2);
    expect(Date.now() - started).toBeLessThan(1000);
  }, 30_000);
});
