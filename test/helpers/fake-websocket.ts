/**
 * A WebSocket stand-in for unit tests of the socket clients (session, standby,
 * tab serving): opens on the next microtask, records what the client sends
 * (decoded by the test's codec), delivers what the test `receive`s, and fires
 * `close` once with its code and reason, like a browser's WebSocket.
 *
 * @example
 * const FakeSocket = fakeWebSocketClass({ decode: (d) => JSON.parse(d as string), encode: (m: object) => JSON.stringify(m) });
 * connectStandby({ WebSocket: FakeSocket as unknown as WebSocketConstructor, ... });
 * FakeSocket.last!.receive({ type: 'standing-by', ... });
 */
export interface FakeWebSocket<In, Out> extends EventTarget {
  readyState: number;
  binaryType: string;
  readonly url: string;
  /** Every frame the client sent, decoded. */
  readonly sent: Out[];
  send(data: unknown): void;
  close(code?: number, reason?: string): void;
  /** Delivers `msg`, encoded, as a `message` event. */
  receive(msg: In): void;
}

export interface FakeWebSocketClass<In, Out> {
  new (url: string): FakeWebSocket<In, Out>;
  /** Every socket opened since the last reset(), oldest first. */
  readonly all: FakeWebSocket<In, Out>[];
  readonly last: FakeWebSocket<In, Out> | undefined;
  reset(): void;
}

/** A fake WebSocket class whose frames go through `decode` (sent) and `encode` (received). */
export function fakeWebSocketClass<In, Out>(codec: { decode: (data: unknown) => Out; encode: (msg: In) => string | ArrayBuffer }): FakeWebSocketClass<In, Out> {
  let all: FakeWebSocket<In, Out>[] = [];
  class Socket extends EventTarget implements FakeWebSocket<In, Out> {
    static get all(): FakeWebSocket<In, Out>[] {
      return all;
    }
    static get last(): FakeWebSocket<In, Out> | undefined {
      return all.at(-1);
    }
    static reset(): void {
      all = [];
    }
    readyState = 0;
    binaryType = 'blob';
    readonly sent: Out[] = [];
    readonly url: string;
    constructor(url: string) {
      super();
      this.url = url;
      all.push(this);
      queueMicrotask(() => {
        this.readyState = 1;
        this.dispatchEvent(new Event('open'));
      });
    }
    send(data: unknown): void {
      this.sent.push(codec.decode(data));
    }
    close(code = 1000, reason = ''): void {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.dispatchEvent(Object.assign(new Event('close'), { code, reason }));
    }
    receive(msg: In): void {
      this.dispatchEvent(new MessageEvent('message', { data: codec.encode(msg) }));
    }
  }
  return Socket;
}

/** The bytes of an encoded frame as the ArrayBuffer a browser WebSocket delivers. */
export function bufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
