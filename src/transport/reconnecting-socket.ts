/**
 * One WebSocket to a Worker endpoint that keeps itself connected: it opens the
 * socket with an injected constructor, sends the caller's join frame on every
 * open, heartbeats once the peer has accepted the join, and when the socket
 * drops reconnects after an exponential backoff with full jitter
 * (fetch/retry's backoffDelay), until the caller closes it or the peer closes
 * with a final code (4401: the join token was refused, and retrying cannot
 * fix that). The session client keeps one per model pool, the standby client
 * one to the directory; what the frames mean stays with them.
 *
 * Why the caller says when the join was accepted (joined()) rather than this
 * module guessing from the frames: the accept frame is each protocol's own
 * (`joined` from a pool, `standing-by` from the directory), and it carries the
 * heartbeat interval the peer wants.
 */
import { TesseraError, fromErrorData, type ErrorData } from '../errors.ts';
import { backoffDelay } from '../fetch/retry.ts';

/** The subset of the WebSocket constructor the socket clients use (the global one fits). */
export type WebSocketConstructor = new (url: string) => WebSocket;

/** A frame that could not be read, or an `error` frame from the peer: `error` keeps its code. */
export type ProtocolErrorEvent = { type: 'protocol-error'; message: string; error: TesseraError };

export type ReconnectingSocketEvent<In, Out> =
  /** A frame from the current socket; `reply` answers on that socket only (a no-op once it has closed). */
  | { type: 'message'; message: In; reply: (msg: Out) => boolean }
  /** A frame `decode` could not read (the socket stays open). */
  | ProtocolErrorEvent
  /** The socket dropped; a new one opens in `retryInMs`. */
  | { type: 'disconnected'; code: number; reason: string; retryInMs: number }
  /** The peer closed with one of `finalCloseCodes`: no reconnect, the socket is closed for good. */
  | { type: 'refused'; code: number; reason: string }
  /** The closing handshake that close() started has finished. */
  | { type: 'closed'; code: number; reason: string };

export type ReconnectingSocketState = 'connecting' | 'joined' | 'waiting' | 'closed';

/** The connection options both socket clients (session, standby) take and hand on to their sockets. */
export interface SocketClientOptions {
  /** Default: the global WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect delays: full jitter over min(maxMs, baseMs * 2^attempt). Default 250 ms .. 10 s. */
  backoff?: { baseMs?: number; maxMs?: number } | undefined;
  /** The jitter's source; default Math.random. */
  random?: (() => number) | undefined;
}

export interface ReconnectingSocketOptions<In, Out> {
  url: string;
  WebSocket: WebSocketConstructor;
  /** Turns a frame into what goes on the wire. */
  encode: (msg: Out) => string | Uint8Array;
  /** Reads one received frame; what it throws becomes a `protocol-error` event. */
  decode: (data: string | ArrayBuffer) => In;
  /** Named in the message of an unreadable frame, e.g. `coordinator`. */
  peer: string;
  /** The join frame, built at each open (so it says the state of that moment: the id, what is held). */
  join: () => Out;
  /** The frame sent every heartbeatMs once joined() was called. */
  heartbeat: Out;
  /**
   * The session socket sets `arraybuffer`: its frames carry tensors as binary,
   * and a browser's default (`blob`) would hand them over as Blobs. Unset, the
   * constructor's default stays (the standby socket's frames are JSON text).
   */
  binaryType?: BinaryType;
  backoff?: SocketClientOptions['backoff'];
  random?: SocketClientOptions['random'];
  /** Close codes after which it does not reconnect, e.g. [CLOSE_UNAUTHORIZED] (4401: retrying cannot fix a refused token). */
  finalCloseCodes: readonly number[];
  /** How long close() waits for the peer's half of the closing handshake. Default 2 s. */
  closeTimeoutMs?: number;
  onEvent: (event: ReconnectingSocketEvent<In, Out>) => void;
}

export interface ReconnectingSocket<Out> {
  /** `waiting`: dropped, a reconnect is scheduled; `closed`: it never reconnects again. */
  readonly state: ReconnectingSocketState;
  /** Sends on the current socket if it is open; false when the frame was dropped. */
  send(msg: Out): boolean;
  /** The peer accepted the join: the backoff starts over and heartbeats go every `heartbeatMs`. */
  joined(heartbeatMs: number): void;
  /**
   * Stops reconnecting, sends `leave` (if given and the socket is open) and
   * closes with `code`; resolves once the peer completed the closing
   * handshake, or after closeTimeoutMs (a stalled or gone peer must not hang
   * shutdown: `leave` is already sent). Calling it again returns the same promise.
   */
  close(options?: { code?: number; reason?: string; leave?: Out }): Promise<void>;
  /** Stops now: timers cleared, the socket closed without a leave, no further events. */
  dispose(): void;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 2000;

/**
 * @example
 * const socket = openReconnectingSocket({
 *   url: standbyUrl(base), WebSocket, peer: 'directory',
 *   encode: JSON.stringify, decode: (d) => parseDirectoryStandbyMessage(decodeStandbyFrame(d)),
 *   join: () => ({ type: 'standby', token, ... }), heartbeat: { type: 'heartbeat' }, finalCloseCodes: [CLOSE_UNAUTHORIZED],
 *   onEvent: (e) => {
 *     if (e.type === 'message' && e.message.type === 'standing-by') socket.joined(e.message.heartbeatMs);
 *   },
 * });
 * await socket.close({ leave: { type: 'leave' }, reason: 'leaving' });
 */
export function openReconnectingSocket<In, Out>(options: ReconnectingSocketOptions<In, Out>): ReconnectingSocket<Out> {
  const backoff = { attempts: Infinity, baseDelayMs: options.backoff?.baseMs ?? 250, maxDelayMs: options.backoff?.maxMs ?? 10_000 };
  const random = options.random ?? Math.random;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const emit = options.onEvent;

  let state: ReconnectingSocketState = 'connecting';
  let ws: WebSocket | undefined;
  let attempt = 0;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by close(): the next close event is the end, not a drop. */
  let closing: { done: Promise<void>; resolve: () => void } | undefined;

  const sendOn = (socket: WebSocket | undefined, msg: Out): boolean => {
    if (socket?.readyState !== 1) return false;
    socket.send(options.encode(msg));
    return true;
  };

  /** Ends for good: no timer left, no socket listened to. */
  const stop = (): void => {
    state = 'closed';
    clearInterval(heartbeat);
    clearTimeout(retryTimer);
    ws = undefined;
    closing?.resolve();
  };

  const connect = (): void => {
    state = 'connecting';
    const socket = new options.WebSocket(options.url);
    ws = socket;
    if (options.binaryType) socket.binaryType = options.binaryType;
    socket.addEventListener('open', () => {
      if (ws === socket && !closing) sendOn(socket, options.join());
    });
    socket.addEventListener('message', (event: MessageEvent) => {
      // A socket already replaced or stopped is no longer this link's: its frames are stale.
      if (ws !== socket) return;
      let message: In;
      try {
        message = options.decode(event.data as string | ArrayBuffer);
      } catch (err) {
        const error = err instanceof TesseraError ? err : new TesseraError('bad-request', `unreadable ${options.peer} frame: ${(err as Error).message}`, { cause: err });
        emit({ type: 'protocol-error', message: error.message, error });
        return;
      }
      emit({ type: 'message', message, reply: (msg) => sendOn(socket, msg) });
    });
    socket.addEventListener('close', (event: CloseEvent) => {
      if (ws !== socket) return;
      ws = undefined;
      clearInterval(heartbeat);
      if (closing) {
        stop();
        emit({ type: 'closed', code: event.code, reason: event.reason });
        return;
      }
      if (options.finalCloseCodes.includes(event.code)) {
        stop();
        emit({ type: 'refused', code: event.code, reason: event.reason });
        return;
      }
      const retryInMs = Math.round(backoffDelay(attempt, backoff, random));
      attempt += 1;
      state = 'waiting';
      emit({ type: 'disconnected', code: event.code, reason: event.reason, retryInMs });
      retryTimer = setTimeout(() => {
        if (state === 'waiting' && !closing) connect();
      }, retryInMs);
    });
    // 'error' is always followed by 'close', which does the work.
    socket.addEventListener('error', () => undefined);
  };

  const close = (opts: { code?: number; reason?: string; leave?: Out } = {}): Promise<void> => {
    if (closing) return closing.done;
    if (state === 'closed') return Promise.resolve();
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    closing = { done, resolve };
    const socket = ws;
    if (!socket || socket.readyState === 3) {
      // Waiting to reconnect (or already closed): there is nothing to hand shake with.
      stop();
      return done;
    }
    if (opts.leave !== undefined) sendOn(socket, opts.leave);
    const timer = setTimeout(stop, closeTimeoutMs);
    void done.then(() => clearTimeout(timer));
    try {
      socket.close(opts.code ?? 1000, opts.reason ?? '');
    } catch {
      // Already closing.
    }
    return done;
  };

  const dispose = (): void => {
    const socket = ws;
    stop();
    if (socket && socket.readyState < 2) {
      try {
        socket.close(1000, 'disposed');
      } catch {
        // Already closing.
      }
    }
  };

  connect();
  return {
    get state() {
      return state;
    },
    send: (msg) => sendOn(ws, msg),
    joined(heartbeatMs) {
      if (state === 'closed') return;
      state = 'joined';
      attempt = 0;
      clearInterval(heartbeat);
      const socket = ws;
      heartbeat = setInterval(() => sendOn(socket, options.heartbeat), heartbeatMs);
    },
    close,
    dispose,
  };
}

/**
 * Whichever WebSocket constructor is given, else the runtime's own (Node 22
 * and browsers have one); checked when a client is created, not when its
 * first socket opens.
 *
 * @example
 * const Ctor = webSocketConstructor(options.WebSocket);
 */
export function webSocketConstructor(given?: WebSocketConstructor): WebSocketConstructor {
  const Ctor = given ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
  if (!Ctor) throw new TesseraError('device-unavailable', 'no WebSocket in this runtime; pass options.WebSocket');
  return Ctor;
}

/**
 * The ws(s) URL for a Worker given as an http(s) base URL (its path becomes
 * `defaultPath`) or as a ws(s) URL (its path kept as given).
 *
 * @example
 * webSocketUrl('https://tessera.example', '/v1/sessions'); // 'wss://tessera.example/v1/sessions'
 */
export function webSocketUrl(base: string, defaultPath: string): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch (cause) {
    throw new TesseraError('invalid-argument', `coordinator URL "${base}" is not a URL; use e.g. http://127.0.0.1:8787`, { cause });
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TesseraError('invalid-argument', `coordinator URL must be http(s) or ws(s), got ${u.protocol}`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = defaultPath;
  return u.toString();
}

/**
 * The `protocol-error` event for an `error` frame from the peer, rebuilt with its code.
 *
 * @example
 * case 'error': emit(errorFrameEvent(msg.error)); break;
 */
export function errorFrameEvent(data: ErrorData): ProtocolErrorEvent {
  const error = fromErrorData(data);
  return { type: 'protocol-error', message: `${error.code}: ${error.message}`, error };
}

/**
 * The `protocol-error` event for a frame type the client's exhaustive switch
 * does not know (the parser let through something newer than this client).
 *
 * @example
 * default: emit(unhandledFrameEvent(msg satisfies never));
 */
export function unhandledFrameEvent(msg: never): ProtocolErrorEvent {
  const error = new TesseraError('bad-request', `unhandled message ${JSON.stringify(msg)}`);
  return { type: 'protocol-error', message: error.message, error };
}
