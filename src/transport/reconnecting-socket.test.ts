/** The reconnecting socket on its own, against the fake WebSocket and fake timers: join, heartbeat, backoff, final codes, close and dispose. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TesseraError } from '../errors.ts';
import { fakeWebSocketClass } from '../../test/helpers/fake-websocket.ts';
import {
  errorFrameEvent,
  openReconnectingSocket,
  unhandledFrameEvent,
  webSocketConstructor,
  webSocketUrl,
  type ReconnectingSocketEvent,
  type ReconnectingSocketOptions,
  type WebSocketConstructor,
} from './reconnecting-socket.ts';

type In = { type: string; [k: string]: unknown };
type Out = { type: string; [k: string]: unknown };

const FakeSocket = fakeWebSocketClass({
  decode: (d) => JSON.parse(d as string) as Out,
  encode: (msg: In | string) => (typeof msg === 'string' ? msg : JSON.stringify(msg)),
});
type Socket = InstanceType<typeof FakeSocket>;
const typesOf = (s: Socket): string[] => s.sent.map((m) => m.type);

function open(over: Partial<ReconnectingSocketOptions<In, Out>> = {}) {
  const events: ReconnectingSocketEvent<In, Out>[] = [];
  let joins = 0;
  const socket = openReconnectingSocket<In, Out>({
    url: 'ws://h:1/v1/x',
    WebSocket: FakeSocket as unknown as WebSocketConstructor,
    encode: (m) => JSON.stringify(m),
    decode: (d) => {
      const msg = JSON.parse(d as string) as In;
      if (typeof msg.type !== 'string') throw new TesseraError('bad-request', 'a frame needs a type');
      return msg;
    },
    peer: 'test peer',
    join: () => ({ type: 'join', n: ++joins }),
    heartbeat: { type: 'heartbeat' },
    finalCloseCodes: [4401],
    backoff: { baseMs: 100, maxMs: 1000 },
    random: () => 1,
    onEvent: (e) => events.push(e),
    ...over,
  });
  const kinds = (): string[] => events.map((e) => e.type);
  return { socket, events, kinds };
}

beforeEach(() => {
  FakeSocket.reset();
  // queueMicrotask stays real: the fake socket opens on it.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('openReconnectingSocket', () => {
  it('opens with the injected constructor, sends the join frame on open, and heartbeats only once joined', async () => {
    const { socket } = open({ binaryType: 'arraybuffer' });
    expect(FakeSocket.all).toHaveLength(1);
    const ws = FakeSocket.last!;
    expect(ws.url).toBe('ws://h:1/v1/x');
    expect(ws.binaryType).toBe('arraybuffer');
    expect(socket.state).toBe('connecting');
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.sent).toEqual([{ type: 'join', n: 1 }]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(typesOf(ws)).toEqual(['join']); // not joined: no heartbeat
    socket.joined(300);
    expect(socket.state).toBe('joined');
    await vi.advanceTimersByTimeAsync(1000);
    expect(typesOf(ws)).toEqual(['join', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(socket.send({ type: 'x' })).toBe(true);
    expect(ws.sent.at(-1)).toEqual({ type: 'x' });
    socket.dispose();
  });

  it('leaves the constructor\'s binaryType as it is when none is asked for', () => {
    const { socket } = open();
    expect(FakeSocket.last!.binaryType).toBe('blob');
    socket.dispose();
  });

  it('reconnects after a drop with exponential backoff, a fresh join each time, and starts over once joined', async () => {
    const { socket, events } = open();
    await vi.advanceTimersByTimeAsync(0);
    socket.joined(50);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      FakeSocket.last!.close(1006, 'gone');
      expect(socket.state).toBe('waiting');
      expect(vi.getTimerCount()).toBe(1); // the reconnect; the heartbeat stopped with the socket
      expect(socket.send({ type: 'x' })).toBe(false);
      const e = events.at(-1) as Extract<ReconnectingSocketEvent<In, Out>, { type: 'disconnected' }>;
      expect(e).toMatchObject({ type: 'disconnected', code: 1006, reason: 'gone' });
      delays.push(e.retryInMs);
      await vi.advanceTimersByTimeAsync(e.retryInMs - 1);
      expect(FakeSocket.all).toHaveLength(i + 1); // not before the delay
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeSocket.all).toHaveLength(i + 2);
      expect(socket.state).toBe('connecting');
    }
    // random() = 1: the whole cap each time, 100 * 2^attempt up to maxMs.
    expect(delays).toEqual([100, 200, 400, 800, 1000]);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.last!.sent).toEqual([{ type: 'join', n: 6 }]);
    // No heartbeat on the new socket until it is joined; the dropped ones got none after their drop.
    await vi.advanceTimersByTimeAsync(500);
    expect(typesOf(FakeSocket.last!)).toEqual(['join']);
    for (const old of FakeSocket.all.slice(1, -1)) expect(typesOf(old)).toEqual(['join']);
    socket.joined(50);
    FakeSocket.last!.close(4000, 'again');
    expect(events.at(-1)).toMatchObject({ type: 'disconnected', retryInMs: 100 });
    socket.dispose();
  });

  it('stops for good on a final close code and reconnects after any other', async () => {
    const { socket, events, kinds } = open({ finalCloseCodes: [4401, 4403] });
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.last!.close(4408, 'join timeout');
    expect(kinds()).toEqual(['disconnected']);
    await vi.advanceTimersByTimeAsync(100);
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.last!.close(4403, 'forbidden');
    expect(events.at(-1)).toEqual({ type: 'refused', code: 4403, reason: 'forbidden' });
    expect(socket.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(2);
    await expect(socket.close()).resolves.toBeUndefined();
  });

  it('close() sends leave, closes with the code and reason, resolves on the close event and never reconnects', async () => {
    const { socket, kinds } = open();
    await vi.advanceTimersByTimeAsync(0);
    socket.joined(1000);
    const ws = FakeSocket.last!;
    const codes: [number, string][] = [];
    ws.addEventListener('close', (e) => codes.push([(e as CloseEvent).code, (e as CloseEvent).reason]));
    const first = socket.close({ code: 1000, reason: 'leaving', leave: { type: 'leave' } });
    expect(socket.close()).toBe(first);
    await first;
    expect(typesOf(ws)).toEqual(['join', 'leave']);
    expect(codes).toEqual([[1000, 'leaving']]);
    expect(kinds()).toEqual(['closed']);
    expect(socket.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(typesOf(ws)).toEqual(['join', 'leave']); // no heartbeat after close
  });

  it('close() before the socket opened sends neither leave nor join, and ends closed', async () => {
    const { socket, kinds } = open();
    const ws = FakeSocket.last!;
    const closing = socket.close({ leave: { type: 'leave' } });
    expect(ws.readyState).toBe(3);
    await closing;
    expect(socket.state).toBe('closed');
    // (The fake still fires its queued `open` after that; the socket must not answer it with a join.)
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ws.sent).toEqual([]);
    expect(kinds()).toEqual(['closed']);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('close() while waiting to reconnect resolves at once and cancels the reconnect', async () => {
    const { socket, kinds } = open();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.last!.close(1006, 'gone');
    await socket.close({ leave: { type: 'leave' } });
    expect(socket.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(kinds()).toEqual(['disconnected']);
  });

  it('close() gives up on a peer that never completes the closing handshake after closeTimeoutMs, and then hears nothing from it', async () => {
    const { socket, kinds } = open({ closeTimeoutMs: 500 });
    await vi.advanceTimersByTimeAsync(0);
    const ws = FakeSocket.last!;
    // The peer is gone: close() only starts the handshake.
    ws.close = () => void (ws.readyState = 2);
    let done = false;
    const closing = socket.close({ leave: { type: 'leave' } }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(socket.state).toBe('closed');
    ws.dispatchEvent(Object.assign(new Event('close'), { code: 1006, reason: 'late' }));
    ws.receive({ type: 'late' });
    expect(kinds()).toEqual([]);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('delivers frames with a reply bound to their socket; a reply after a reconnect goes nowhere', async () => {
    const { socket, events } = open();
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeSocket.last!;
    first.receive({ type: 'work', id: 1 });
    const msg = events.at(-1) as Extract<ReconnectingSocketEvent<In, Out>, { type: 'message' }>;
    expect(msg).toMatchObject({ type: 'message', message: { type: 'work', id: 1 } });
    expect(msg.reply({ type: 'answer', id: 1 })).toBe(true);
    expect(first.sent.at(-1)).toEqual({ type: 'answer', id: 1 });
    first.close(1006, 'gone');
    await vi.advanceTimersByTimeAsync(100);
    const second = FakeSocket.last!;
    expect(second).not.toBe(first);
    expect(msg.reply({ type: 'answer', id: 1 })).toBe(false);
    expect(typesOf(second)).toEqual(['join']);
    // The old socket's frames are stale: not delivered.
    const before = events.length;
    first.receive({ type: 'stale' });
    expect(events).toHaveLength(before);
    socket.dispose();
  });

  it('reports an unreadable frame as a protocol error naming the peer, keeps a decoder\'s own TesseraError, and stays open', async () => {
    const { socket, events } = open();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.last!.receive('not json');
    FakeSocket.last!.receive({ kind: 'typeless' } as unknown as In);
    const errors = events.filter((e) => e.type === 'protocol-error');
    expect(errors).toHaveLength(2);
    expect(errors[0]!.error).toBeInstanceOf(TesseraError);
    expect(errors[0]!.error.code).toBe('bad-request');
    expect(errors[0]!.message).toMatch(/^unreadable test peer frame: /);
    expect(errors[1]!.error).toMatchObject({ code: 'bad-request', message: 'a frame needs a type' });
    expect(socket.state).toBe('connecting');
    expect(FakeSocket.last!.readyState).toBe(1);
    socket.dispose();
  });

  it('dispose() stops at once: the socket closes without a leave, no timer fires, no event follows', async () => {
    const { socket, kinds } = open();
    await vi.advanceTimersByTimeAsync(0);
    socket.joined(100);
    const ws = FakeSocket.last!;
    socket.dispose();
    expect(socket.state).toBe('closed');
    expect(ws.readyState).toBe(3);
    expect(typesOf(ws)).toEqual(['join']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(kinds()).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('webSocketUrl and webSocketConstructor', () => {
  it('turns an http(s) base into ws(s) with the default path and keeps a ws(s) path', () => {
    expect(webSocketUrl('http://127.0.0.1:8787', '/v1/sessions')).toBe('ws://127.0.0.1:8787/v1/sessions');
    expect(webSocketUrl('https://t.example/', '/v1/x')).toBe('wss://t.example/v1/x');
    expect(webSocketUrl('wss://t.example/custom', '/v1/x')).toBe('wss://t.example/custom');
    expect(() => webSocketUrl('ftp://x', '/v1/x')).toThrow(expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(/http\(s\) or ws\(s\)/) }));
    expect(() => webSocketUrl('nope', '/v1/x')).toThrow(expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(/is not a URL/) }));
  });

  it('uses the given constructor, else the global one, and says what to pass where there is none', () => {
    const given = FakeSocket as unknown as WebSocketConstructor;
    expect(webSocketConstructor(given)).toBe(given);
    expect(webSocketConstructor()).toBe(globalThis.WebSocket);
    vi.stubGlobal('WebSocket', undefined);
    try {
      expect(() => webSocketConstructor()).toThrow(expect.objectContaining({ code: 'device-unavailable', message: expect.stringMatching(/pass options\.WebSocket/) }));
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('protocol-error events', () => {
  it('rebuilds an error frame with its code, and names an unhandled frame', () => {
    const e = errorFrameEvent({ name: 'TesseraError', code: 'quota-exceeded', message: 'no room' });
    expect(e.error).toBeInstanceOf(TesseraError);
    expect(e).toMatchObject({ type: 'protocol-error', message: 'quota-exceeded: no room', error: { code: 'quota-exceeded' } });
    const u = unhandledFrameEvent({ type: 'from-the-future' } as never);
    expect(u).toMatchObject({ type: 'protocol-error', message: 'unhandled message {"type":"from-the-future"}', error: { code: 'bad-request' } });
  });
});
