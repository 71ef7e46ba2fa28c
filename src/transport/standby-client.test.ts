/** The standby client against a fake directory socket: offer, prewarm, progress, budget, unload, reconnect. */
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../errors.ts';
import { fakeWebSocketClass } from '../../test/helpers/fake-websocket.ts';
import { connectStandby, standbyUrl, type PrewarmRequest, type StandbyClientEvent } from './standby-client.ts';
import type { WebSocketConstructor } from './session-client.ts';

const FakeSocket = fakeWebSocketClass({
  decode: (d) => JSON.parse(d as string) as Record<string, unknown>,
  encode: (msg: object) => JSON.stringify(msg),
});
/** The frames of `type` a socket sent. */
const sentOf = (s: InstanceType<typeof FakeSocket>, type: string): Record<string, unknown>[] => s.sent.filter((m) => m.type === type);

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

function setup(load: (r: PrewarmRequest) => Promise<{ close(): Promise<void> }>, over: { budgetBytes?: number; models?: 'all' | string[] } = {}) {
  FakeSocket.reset();
  const events: StandbyClientEvent[] = [];
  const client = connectStandby({
    url: 'http://127.0.0.1:1', token: 'tok', device: 'cpu', budgetBytes: over.budgetBytes ?? 10 * MB, models: over.models ?? 'all', serving: ['ocr'],
    load, progressIntervalMs: 50, WebSocket: FakeSocket as unknown as WebSocketConstructor, backoff: { baseMs: 1, maxMs: 1 }, random: () => 1,
    onEvent: (e) => events.push(e),
  });
  return { client, events, socket: () => FakeSocket.all.at(-1)! };
}

async function standingBy(socket: InstanceType<typeof FakeSocket>): Promise<void> {
  await tick();
  socket.receive({ type: 'standing-by', sessionId: 'sb1', leaseMs: 15_000, heartbeatMs: 5_000 });
}

describe('connectStandby', () => {
  it('offers, loads an asked model with throttled progress, reports ready, and unloads it on request', async () => {
    let closed = 0;
    const { client, events, socket } = setup(async ({ onProgress }) => {
      for (let i = 1; i <= 10; i++) {
        onProgress(i * MB / 2, 5 * MB);
        await tick(10);
      }
      return { close: async () => void (closed += 1) };
    });
    await standingBy(socket());
    expect(socket().url).toBe('ws://127.0.0.1:1/v1/sessions/standby');
    expect(socket().sent[0]).toEqual({ type: 'standby', token: 'tok', device: 'cpu', budgetBytes: 10 * MB, models: 'all', serving: ['ocr'], loaded: [] });
    await expect(client.standingBy()).resolves.toBe('sb1');

    socket().receive({ type: 'prewarm', model: 'mlp', revision: 'r1', bytes: 5 * MB });
    await tick(200);
    const progress = sentOf(socket(), 'progress');
    // 10 reports over ~100 ms with a 50 ms interval: the first, about one per interval, and the last.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThan(10);
    expect(progress.at(-1)).toEqual({ type: 'progress', model: 'mlp', loadedBytes: 5 * MB, totalBytes: 5 * MB });
    expect(sentOf(socket(), 'ready')).toEqual([{ type: 'ready', model: 'mlp', revision: 'r1' }]);
    expect(client.loaded).toEqual([{ model: 'mlp', revision: 'r1', bytes: 5 * MB }]);
    expect(client.usedBytes).toBe(5 * MB);

    socket().receive({ type: 'unload', model: 'mlp', reason: 'idle' });
    await tick();
    expect(closed).toBe(1);
    expect(sentOf(socket(), 'unloaded')).toEqual([{ type: 'unloaded', model: 'mlp' }]);
    expect(client.usedBytes).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['standing-by', 'prewarm', 'ready', 'unloaded']);
    await client.close();
    expect(sentOf(socket(), 'leave')).toHaveLength(1);
  });

  it('declines what it was not offered, already serves, already holds, or has no budget for; the budget counts loads in progress', async () => {
    let release!: () => void;
    const { client, socket } = setup(() => new Promise((resolve) => (release = () => resolve({ close: async () => undefined }))), { budgetBytes: 8 * MB, models: ['mlp', 'big', 'ocr'] });
    await standingBy(socket());
    socket().receive({ type: 'prewarm', model: 'nope', revision: 'r', bytes: 1 });
    socket().receive({ type: 'prewarm', model: 'ocr', revision: 'r', bytes: 1 });
    socket().receive({ type: 'prewarm', model: 'mlp', revision: 'r', bytes: 5 * MB });
    socket().receive({ type: 'prewarm', model: 'mlp', revision: 'r', bytes: 5 * MB });
    socket().receive({ type: 'prewarm', model: 'big', revision: 'r', bytes: 4 * MB });
    await tick();
    expect(sentOf(socket(), 'declined').map((m) => m.reason)).toEqual([
      expect.stringMatching(/"nope" is not among the models this session offered/),
      expect.stringMatching(/already serves "ocr"/),
      expect.stringMatching(/already holds or is loading "mlp"/),
      expect.stringMatching(/"big" needs 4194304 bytes; 3145728 of the 8388608-byte budget are free/),
    ]);
    release();
    await tick();
    expect(sentOf(socket(), 'ready')).toHaveLength(1);
    await client.close();
  });

  it('reports a failed load with its error code and frees the budget', async () => {
    const { client, events, socket } = setup(async () => {
      throw new TesseraError('quota-exceeded', 'no room for mlp');
    });
    await standingBy(socket());
    socket().receive({ type: 'prewarm', model: 'mlp', revision: 'r1', bytes: 5 * MB });
    await tick();
    expect(sentOf(socket(), 'failed')).toEqual([{ type: 'failed', model: 'mlp', error: { name: 'TesseraError', code: 'quota-exceeded', message: 'no room for mlp' } }]);
    expect(client.usedBytes).toBe(0);
    expect(events.find((e) => e.type === 'failed')).toMatchObject({ error: { code: 'quota-exceeded' } });
    await client.close();
  });

  it('an unload during the load aborts it, and a model that still finishes is closed, never reported ready', async () => {
    let closed = 0;
    let finish!: () => void;
    let aborted = false;
    const { client, socket } = setup(({ signal }) => new Promise((resolve) => {
      signal.addEventListener('abort', () => (aborted = true));
      finish = () => resolve({ close: async () => void (closed += 1) });
    }));
    await standingBy(socket());
    socket().receive({ type: 'prewarm', model: 'mlp', revision: 'r1', bytes: 5 * MB });
    await tick();
    socket().receive({ type: 'unload', model: 'mlp', reason: 'no progress for 60000 ms' });
    await tick();
    expect(aborted).toBe(true);
    finish();
    await tick();
    expect(closed).toBe(1);
    expect(sentOf(socket(), 'ready')).toEqual([]);
    expect(sentOf(socket(), 'unloaded')).toHaveLength(1);
    await client.close();
  });

  it('reconnects with its id and lists what it holds; close() disposes of every prewarmed model', async () => {
    let closed = 0;
    const { client, socket } = setup(async () => ({ close: async () => void (closed += 1) }));
    await standingBy(socket());
    socket().receive({ type: 'prewarm', model: 'mlp', revision: 'r1', bytes: 5 * MB });
    await tick();
    const first = socket();
    first.close(1006, 'gone');
    expect(client.state).toBe('waiting');
    await tick(20);
    expect(FakeSocket.all).toHaveLength(2);
    expect(socket().sent[0]).toMatchObject({ type: 'standby', sessionId: 'sb1', loaded: [{ model: 'mlp', revision: 'r1', bytes: 5 * MB }] });
    expect(closed).toBe(0); // the prewarmed pool session kept serving
    await standingBy(socket());
    await client.close();
    expect(closed).toBe(1);
    expect(client.state).toBe('closed');
  });

  it('stops for good on an unauthorized close', async () => {
    let closed = 0;
    const { client, socket } = setup(async () => ({ close: async () => void (closed += 1) }));
    await tick();
    socket().close(4401, 'unauthorized');
    await expect(client.standingBy()).rejects.toMatchObject({ code: 'session-closed' });
    expect(client.state).toBe('closed');
    await tick(20);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('builds the socket URL', () => {
    expect(standbyUrl('https://tessera.example')).toBe('wss://tessera.example/v1/sessions/standby');
    expect(standbyUrl('ws://h:1/custom')).toBe('ws://h:1/custom');
    expect(() => standbyUrl('ftp://x')).toThrow(/http\(s\) or ws\(s\)/);
  });
});
