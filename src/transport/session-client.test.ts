/** The session client's error path with a fake WebSocket: coordinator errors arrive as TesseraErrors with their code. */
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../errors.ts';
import { bufferOf, fakeWebSocketClass } from '../../test/helpers/fake-websocket.ts';
import { decodeMessage, encodeMessage, type CoordinatorMessage } from '../protocol/coordinator-messages.ts';
import { connectSession, type SessionClientEvent, type WebSocketConstructor } from './session-client.ts';

const FakeSocket = fakeWebSocketClass({
  decode: (d) => decodeMessage(d as Uint8Array) as { type: string; [k: string]: unknown },
  encode: (msg: CoordinatorMessage | string) => (typeof msg === 'string' ? msg : bufferOf(encodeMessage(msg))),
});
type PoolSocket = InstanceType<typeof FakeSocket>;

describe('connectSession errors', () => {
  it('reports a coordinator error frame and an unreadable frame as TesseraErrors with their code', async () => {
    const events: SessionClientEvent[] = [];
    const session = connectSession({
      url: 'http://127.0.0.1:1',
      token: 't',
      models: [{ name: 'm', revision: 'r1', maxBatch: 1 }],
      device: 'simulated',
      capacity: { maxInFlight: 1, requestsPerSecond: 1 },
      runModel: async () => ({}),
      WebSocket: FakeSocket as unknown as WebSocketConstructor,
      onEvent: (e) => events.push(e),
    });
    await new Promise((r) => setTimeout(r, 0));
    const socket = FakeSocket.last!;
    socket.receive({ type: 'error', error: { name: 'TesseraError', code: 'bad-request', message: 'models[0].name is missing' } });
    socket.receive('not a frame');
    const errors = events.filter((e): e is Extract<SessionClientEvent, { type: 'protocol-error' }> => e.type === 'protocol-error');
    expect(errors).toHaveLength(2);
    expect(errors[0]!.error).toBeInstanceOf(TesseraError);
    expect(errors[0]!.error).toMatchObject({ code: 'bad-request', message: 'models[0].name is missing' });
    expect(errors[1]!.error).toBeInstanceOf(TesseraError);
    expect(errors[1]!.error.code).toBe('bad-request');
    await session.close();
  });
});

/** The pool a socket was opened for. */
const modelOf = (s: PoolSocket): string => new URL(s.url).searchParams.get('model') as string;
const joinAs = (s: PoolSocket, sessionId: string): void => s.receive({ type: 'joined', sessionId, leaseMs: 10_000, heartbeatMs: 5_000 });

const tick = () => new Promise((r) => setTimeout(r, 0));
const m = (name: string, revision = 'r1') => ({ name, revision, maxBatch: 4 });

describe('connectSession: one socket per pool', () => {
  it('joins each model\'s pool on its own socket with that offer only, under one id, and answers on the socket a batch came from', async () => {
    FakeSocket.reset();
    const events: SessionClientEvent[] = [];
    const session = connectSession({
      url: 'http://127.0.0.1:1', token: 't', models: [m('a'), m('b')], device: 'simulated', capacity: { maxInFlight: 1, requestsPerSecond: 1 },
      runModel: async (model, inputs) => ({ y: { ...inputs.x!, data: Float32Array.from(inputs.x!.data as Float32Array, (v) => v * (model === 'a' ? 2 : 3)) } }),
      WebSocket: FakeSocket as unknown as WebSocketConstructor, onEvent: (e) => events.push(e), random: () => 0.5, backoff: { baseMs: 10, maxMs: 10 },
    });
    await tick();
    const [a, b] = FakeSocket.all;
    expect(FakeSocket.all.map((s) => s.url)).toEqual(['ws://127.0.0.1:1/v1/sessions?model=a', 'ws://127.0.0.1:1/v1/sessions?model=b']);
    const joins = FakeSocket.all.map((s) => s.sent[0] as { type: string; models: { name: string }[]; sessionId: string });
    expect(joins.map((j) => j.models.map((x) => x.name))).toEqual([['a'], ['b']]);
    expect(joins[0]!.sessionId).toBe(joins[1]!.sessionId);
    const id = joins[0]!.sessionId;
    let resolved = false;
    const joined = session.joined().then((v) => (resolved = true, v));
    joinAs(a!, id);
    await tick();
    expect(resolved).toBe(false); // b has not joined yet
    expect(session.state).toBe('connecting');
    joinAs(b!, id);
    expect(await joined).toBe(id);
    expect(events.filter((e) => e.type === 'joined')).toHaveLength(1);

    const x = { type: 'float32' as const, dims: [1, 1], data: new Float32Array([1]) };
    b!.receive({ type: 'infer', requestIds: ['rb'], model: 'b', inputs: { x }, batchSizes: [1] });
    a!.receive({ type: 'infer', requestIds: ['ra'], model: 'a', inputs: { x }, batchSizes: [1] });
    await new Promise((r) => setTimeout(r, 10));
    const resultOf = (s: PoolSocket) => s.sent.find((msg) => msg.type === 'result') as unknown as { requestIds: string[]; outputs: { y: { data: Float32Array } } };
    expect(resultOf(a!).requestIds).toEqual(['ra']);
    expect(Array.from(resultOf(a!).outputs.y.data)).toEqual([2]);
    expect(resultOf(b!).requestIds).toEqual(['rb']);
    expect(Array.from(resultOf(b!).outputs.y.data)).toEqual([3]);

    // One pool's socket drops: only it reconnects (same id); the other is untouched.
    a!.close(4000, 'dropped');
    expect(session.state).toBe('waiting');
    expect(events.find((e) => e.type === 'disconnected')).toMatchObject({ model: 'a', code: 4000, retryInMs: 5 });
    await new Promise((r) => setTimeout(r, 20));
    expect(FakeSocket.all).toHaveLength(3);
    const again = FakeSocket.all[2]!;
    expect(modelOf(again)).toBe('a');
    expect(again.sent[0]).toMatchObject({ type: 'join', sessionId: id, models: [{ name: 'a' }] });
    joinAs(again, id);
    expect(session.state).toBe('joined');
    expect(b!.readyState).toBe(1);

    // A new revision of b goes to b's socket alone; dropping a closes its socket after a leave; adding c opens one.
    session.setModels([m('b', 'r2'), m('c')]);
    await tick();
    expect(b!.sent.at(-1)).toEqual({ type: 'models', models: [m('b', 'r2')] });
    expect(again.sent.map((msg) => msg.type).slice(-1)).toEqual(['leave']);
    expect(again.readyState).toBe(3);
    expect(FakeSocket.all.map(modelOf)).toEqual(['a', 'b', 'a', 'c']);
    await new Promise((r) => setTimeout(r, 20));
    expect(FakeSocket.all).toHaveLength(4); // no reconnect for the pool it left
    joinAs(FakeSocket.all[3]!, id);
    expect(session.state).toBe('joined');

    await session.close();
    expect(session.state).toBe('closed');
    for (const s of [b!, FakeSocket.all[3]!]) expect(s.sent.at(-1)).toEqual({ type: 'leave' });
  });

  it('a refused token on one pool closes the whole session: one token for every pool', async () => {
    FakeSocket.reset();
    const session = connectSession({
      url: 'http://127.0.0.1:1', token: 'bad', models: [m('a'), m('b')], device: 'simulated', capacity: { maxInFlight: 1, requestsPerSecond: 1 },
      runModel: async () => ({}), WebSocket: FakeSocket as unknown as WebSocketConstructor,
    });
    await tick();
    const joined = session.joined();
    FakeSocket.all[0]!.close(4401, 'unauthorized');
    await expect(joined).rejects.toMatchObject({ code: 'unauthorized' });
    expect(session.state).toBe('closed');
    expect(FakeSocket.all[1]!.readyState).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('with no models it is joined to nothing, and opens a pool socket when a model arrives', async () => {
    FakeSocket.reset();
    const session = connectSession({
      url: 'http://127.0.0.1:1', token: 't', models: [], device: 'simulated', capacity: { maxInFlight: 1, requestsPerSecond: 1 },
      runModel: async () => ({}), WebSocket: FakeSocket as unknown as WebSocketConstructor,
    });
    expect(typeof (await session.joined())).toBe('string');
    expect(FakeSocket.all).toHaveLength(0);
    session.setModels([m('late')]);
    expect(session.state).toBe('connecting');
    await tick();
    expect(FakeSocket.all.map(modelOf)).toEqual(['late']);
    await session.close();
  });
});

describe('connectSession: close while a pool socket waits to reconnect', () => {
  it('stops the pending reconnect and closes the other sockets', async () => {
    FakeSocket.reset();
    const session = connectSession({
      url: 'http://127.0.0.1:1', token: 't', models: [m('a'), m('b')], device: 'simulated', capacity: { maxInFlight: 1, requestsPerSecond: 1 },
      runModel: async () => ({}), WebSocket: FakeSocket as unknown as WebSocketConstructor, random: () => 1, backoff: { baseMs: 30, maxMs: 30 },
    });
    await tick();
    FakeSocket.all[0]!.close(4000, 'dropped');
    expect(session.state).toBe('waiting');
    await session.close();
    expect(session.state).toBe('closed');
    await new Promise((r) => setTimeout(r, 60));
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.all[1]!.readyState).toBe(3);
  });
});

describe('connectSession: work from a socket that dropped', () => {
  it('is aborted and never answered on the socket that replaced it', async () => {
    FakeSocket.reset();
    let finish!: () => void;
    let aborted: unknown;
    const session = connectSession({
      url: 'http://127.0.0.1:1', token: 't', models: [m('a')], device: 'simulated', capacity: { maxInFlight: 1, requestsPerSecond: 1 },
      runModel: (_model, inputs, signal) => new Promise((resolve) => {
        signal.addEventListener('abort', () => (aborted = signal.reason));
        finish = () => resolve(inputs);
      }),
      WebSocket: FakeSocket as unknown as WebSocketConstructor, random: () => 1, backoff: { baseMs: 5, maxMs: 5 },
    });
    await tick();
    const first = FakeSocket.all[0]!;
    const id = first.sent[0]!.sessionId as string;
    joinAs(first, id);
    const x = { type: 'float32' as const, dims: [1, 1], data: new Float32Array([1]) };
    first.receive({ type: 'infer', requestIds: ['r1'], model: 'a', inputs: { x }, batchSizes: [1] });
    await tick();
    expect(session.running).toBe(1);
    first.close(1006, 'gone');
    expect(aborted).toMatchObject({ code: 'session-closed' });
    expect(session.running).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    const second = FakeSocket.all[1]!;
    joinAs(second, id);
    finish();
    await tick();
    expect(second.sent.map((msg) => msg.type)).toEqual(['join']);
    await session.close();
  });
});
