/** The session client's error path with a fake WebSocket: coordinator errors arrive as TesseraErrors with their code. */
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../errors.ts';
import { encodeMessage } from '../protocol/coordinator-messages.ts';
import { connectSession, type SessionClientEvent, type WebSocketConstructor } from './session-client.ts';

class FakeSocket extends EventTarget {
  static last: FakeSocket | undefined;
  readyState = 0;
  binaryType = 'blob';
  sent: unknown[] = [];
  readonly url: string;
  constructor(url: string) {
    super();
    this.url = url;
    FakeSocket.last = this;
    queueMicrotask(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event('open'));
    });
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(code = 1000, reason = ''): void {
    this.readyState = 3;
    const event = new Event('close') as Event & { code: number; reason: string };
    Object.assign(event, { code, reason });
    this.dispatchEvent(event);
  }
  receive(data: string | ArrayBuffer): void {
    this.dispatchEvent(new MessageEvent('message', { data }));
  }
}

const bufferOf = (bytes: Uint8Array): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

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
    socket.receive(bufferOf(encodeMessage({ type: 'error', error: { name: 'TesseraError', code: 'bad-request', message: 'models[0].name is missing' } })));
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
