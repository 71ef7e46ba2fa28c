/**
 * The session client against the real Worker under `wrangler dev` (workerd,
 * the coordinator Durable Object, hibernatable WebSockets over loopback), with
 * Node's own WebSocket: join, serve a KServe predict, survive a dropped socket
 * (reconnect with the same session id, serve again), serve two models on
 * their own pools from one session (one socket each, reconnecting alone),
 * and hand in-flight work to another session when its socket drops
 * mid-request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { connectSession, type RunModel, type SessionClient, type SessionClientEvent, type WebSocketConstructor } from '../../src/transport/session-client.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { recordingWebSocket } from '../helpers/recording-websocket.ts';

const JOIN = 'session-test-join';
const KEY = 'session-test-key';
let dev: WranglerDev;
const sessions: SessionClient[] = [];

beforeAll(async () => {
  dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: '{"maxDelayMs":0}' } });
}, 60_000);
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await dev?.stop();
});

const offer = (name: string): ModelOffer => ({
  name, revision: 'r1', maxBatch: 4,
  inputs: [{ name: 'x', type: 'float32', shape: [-1, 3] }],
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 3] }],
});
const times = (factor: number): RunModel => async (_model, inputs) => {
  const x = inputs.x!;
  return { y: { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * factor) } } satisfies TensorMap;
};

function join(model: string, runModel: RunModel, events: SessionClientEvent[] = [], Ctor?: WebSocketConstructor): SessionClient {
  const s = connectSession({
    url: dev.base, token: JOIN, models: [offer(model)], device: 'test', capacity: { maxInFlight: 2, requestsPerSecond: 50 },
    runModel, backoff: { baseMs: 20, maxMs: 100 }, onEvent: (e) => events.push(e), ...(Ctor ? { WebSocket: Ctor } : {}),
  });
  sessions.push(s);
  return s;
}

const predict = async (model: string, instances: number[][]): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${dev.base}/v1/models/${model}:predict`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ instances }),
  });
  return { status: res.status, body: await res.json() };
};

describe('session client against wrangler dev', () => {
  it('joins, serves a KServe predict, and after its socket drops rejoins with the same id and serves again', async () => {
    const { Ctor, sockets } = recordingWebSocket();
    const events: SessionClientEvent[] = [];
    const s = join('triple', times(3), events, Ctor);
    const id = await s.joined();
    expect(s.state).toBe('joined');
    expect(await predict('triple', [[1, 2, 3], [4, 5, 6]])).toEqual({ status: 200, body: { predictions: [[3, 6, 9], [12, 15, 18]] } });
    expect(events.filter((e) => e.type === 'infer')).toHaveLength(1);

    sockets[0]!.close(4000, 'test: network dropped');
    // The Worker completes the closing handshake, so the drop is seen at once (not after a 10 s close timeout).
    await expect.poll(() => events.find((e) => e.type === 'disconnected'), { timeout: 2000 }).toMatchObject({ code: 4000 });
    await expect.poll(() => events.filter((e) => e.type === 'joined').length, { timeout: 10_000 }).toBe(2);
    expect(sockets).toHaveLength(2);
    expect(await s.joined()).toBe(id);
    expect(await predict('triple', [[0.5, 1, 2]])).toEqual({ status: 200, body: { predictions: [[1.5, 3, 6]] } });
  }, 30_000);

  it('serves two models on their own pools from one session; a dropped pool socket reconnects alone while the other pool keeps serving', async () => {
    const { Ctor, sockets } = recordingWebSocket();
    const events: SessionClientEvent[] = [];
    const s = connectSession({
      url: dev.base, token: JOIN, models: [offer('twin-a'), offer('twin-b')], device: 'test', capacity: { maxInFlight: 2, requestsPerSecond: 50 },
      runModel: (model, inputs, signal) => times(model === 'twin-a' ? 2 : 5)(model, inputs, signal), backoff: { baseMs: 20, maxMs: 100 },
      onEvent: (e) => events.push(e), WebSocket: Ctor,
    });
    sessions.push(s);
    const id = await s.joined();
    expect(sockets.map((ws) => new URL(ws.url).searchParams.get('model')).sort()).toEqual(['twin-a', 'twin-b']);
    expect(await predict('twin-a', [[1, 1, 1]])).toEqual({ status: 200, body: { predictions: [[2, 2, 2]] } });
    expect(await predict('twin-b', [[1, 1, 1]])).toEqual({ status: 200, body: { predictions: [[5, 5, 5]] } });
    const listed = await (await fetch(`${dev.base}/v1/models`, { headers: { Authorization: `Bearer ${KEY}` } })).json() as { models: string[] };
    expect(listed.models).toEqual(expect.arrayContaining(['twin-a', 'twin-b']));

    const a = sockets.find((ws) => ws.url.endsWith('model=twin-a'))!;
    a.close(4000, 'test: one pool socket dropped');
    await expect.poll(() => events.find((e) => e.type === 'disconnected'), { timeout: 2000 }).toMatchObject({ code: 4000, model: 'twin-a' });
    // The other pool's socket never noticed, and serves throughout.
    expect(await predict('twin-b', [[2, 2, 2]])).toEqual({ status: 200, body: { predictions: [[10, 10, 10]] } });
    await expect.poll(() => sockets.length, { timeout: 10_000 }).toBe(3);
    expect(await s.joined()).toBe(id);
    expect(sockets.filter((ws) => ws.url.endsWith('model=twin-b'))).toHaveLength(1);
    expect(await predict('twin-a', [[3, 3, 3]])).toEqual({ status: 200, body: { predictions: [[6, 6, 6]] } });
  }, 30_000);

  it('re-dispatches a request whose session drops mid-run to another session with the model', async () => {
    const { Ctor, sockets } = recordingWebSocket();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    // The first session takes the request and never answers: its socket drops instead.
    const stuck = join('double', (_m, _i, signal) => {
      started();
      return new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    }, [], Ctor);
    await stuck.joined();
    const pending = predict('double', [[1, 1, 1]]);
    await running;
    const healthy = join('double', times(2));
    await healthy.joined();
    sockets[0]!.close(4000, 'test: dropped with work in flight');
    expect(await pending).toEqual({ status: 200, body: { predictions: [[2, 2, 2]] } });
  }, 30_000);
});
