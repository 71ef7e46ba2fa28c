/**
 * A client session: connects to the coordinator (the Worker's
 * `/v1/sessions` WebSocket), joins with a token, heartbeats, runs the `infer`
 * batches it is sent through an injected `runModel`, and answers each with a
 * `result` or `error` frame. Works in Node 22 and in browsers (both have a
 * global WebSocket; another constructor can be injected).
 *
 * When the socket drops it reconnects with exponential backoff and full
 * jitter, sending its previous session id so the coordinator keeps its
 * identity (and backoff history). Work running when the socket dropped is
 * not answered: the coordinator has already re-dispatched it elsewhere. A
 * refused join token (close code 4401) is final: retrying cannot fix it.
 */
import { TesseraError, fromErrorData, toErrorData } from '../errors.ts';
import {
  CLOSE_UNAUTHORIZED,
  decodeMessage,
  encodeMessage,
  parseCoordinatorMessage,
  type GenerateMessage,
  type InferMessage,
  type ModelOffer,
  type SessionCapacity,
  type SessionMessage,
} from '../protocol/coordinator-messages.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';
import type { TensorMap } from '../protocol/tensor.ts';

/** Runs one batch: `inputs` are concatenated along dim 0; outputs must keep the row order. */

/** How long close() waits for the coordinator's half of the closing handshake. */
const CLOSE_TIMEOUT_MS = 2000;
/**
 * `deadlineMs`: how long the coordinator will still wait for this batch (the
 * infer frame's budget); a session may stop computing once it has passed.
 */
export type RunModel = (model: string, inputs: TensorMap, signal: AbortSignal, deadlineMs?: number) => Promise<TensorMap>;

/**
 * Runs one text generation: calls `onChunk` for each piece as it is produced
 * and resolves with the result. Aborting `signal` must stop it within one step.
 */
export type RunGenerate = (model: string, request: GenerateRequest, onChunk: (chunk: GenerateChunk) => void, signal: AbortSignal) => Promise<GenerateResult>;

export type SessionClientEvent =
  | { type: 'joined'; sessionId: string }
  | { type: 'disconnected'; code: number; reason: string; retryInMs?: number }
  | { type: 'infer'; model: string; requestIds: string[] }
  | { type: 'generate'; model: string; requestId: string }
  /** A generation ended: how, and how many chunks went out (a cancelled one stops early). */
  | { type: 'generated'; requestId: string; outcome: 'done' | 'error' | 'cancelled'; chunks: number }
  /** A frame it could not read, or an `error` frame from the coordinator: `error` keeps its code. */
  | { type: 'protocol-error'; message: string; error: TesseraError };

/** The subset of the WebSocket constructor this client uses (the global one fits). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export interface SessionClientOptions {
  /** The coordinator: `ws(s)://host/v1/sessions`, or the Worker's http(s) base URL. */
  url: string;
  token: string;
  models: ModelOffer[];
  /** What the session runs on, e.g. `webgpu`, `wasm`, `node-cpu`, `simulated`. */
  device: string;
  capacity: SessionCapacity;
  runModel: RunModel;
  /** Text generation for the offers with `task: 'text-generation'`; without it such requests get an error. */
  runGenerate?: RunGenerate;
  /** Default: the global WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect delays: full jitter over min(maxMs, baseMs * 2^attempt). Default 250 ms .. 10 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  random?: () => number;
  onEvent?: (event: SessionClientEvent) => void;
  /** Aborting closes the session for good (like close()). */
  signal?: AbortSignal;
  /** Joins marked `prewarmed`: the directory asked this session to load its models (standby-client.ts). */
  prewarmed?: boolean;
}

export interface SessionClient {
  /** The id the coordinator gave; undefined until the first join. */
  readonly sessionId: string | undefined;
  readonly state: 'connecting' | 'joined' | 'waiting' | 'closed';
  /** Resolves with the session id once joined (again, after a reconnect); rejects if the session is closed first. */
  joined(): Promise<string>;
  /** Batches being run right now. */
  readonly running: number;
  /** Replaces the warm model list (a model finished loading or was dropped). */
  setModels(models: ModelOffer[]): void;
  /** Sends `leave` (the coordinator re-dispatches nothing: it stops sending) and closes. */
  close(): Promise<void>;
}

/**
 * @example
 * const session = connectSession({
 *   url: 'http://127.0.0.1:8787', token: process.env.TESSERA_JOIN_TOKEN!,
 *   models: [{ name: 'mlp', revision: 'r1', maxBatch: 8 }], device: 'wasm',
 *   capacity: { maxInFlight: 1, requestsPerSecond: 50 },
 *   runModel: (model, inputs) => handle.run(inputs),
 * });
 * await session.joined();
 */
export function connectSession(options: SessionClientOptions): SessionClient {
  const Ctor = options.WebSocket ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
  if (!Ctor) throw new TesseraError('device-unavailable', 'no WebSocket in this runtime; pass options.WebSocket');
  const url = sessionUrl(options.url);
  const baseMs = options.backoff?.baseMs ?? 250;
  const maxMs = options.backoff?.maxMs ?? 10_000;
  const random = options.random ?? Math.random;
  const emit = (e: SessionClientEvent): void => options.onEvent?.(e);

  let models = options.models;
  let sessionId: string | undefined;
  let state: SessionClient['state'] = 'connecting';
  let ws: WebSocket | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let closing = false;
  const running = new Map<string, AbortController>();
  let waiters: { resolve: (id: string) => void; reject: (e: unknown) => void }[] = [];

  const send = (socket: WebSocket, msg: SessionMessage): void => {
    if (socket.readyState === 1) socket.send(encodeMessage(msg));
  };

  const finish = (error: TesseraError): void => {
    state = 'closed';
    clearInterval(heartbeat);
    clearTimeout(retryTimer);
    for (const c of running.values()) c.abort(error);
    running.clear();
    for (const w of waiters) w.reject(error);
    waiters = [];
    options.signal?.removeEventListener('abort', onAbort);
  };

  const runBatch = async (socket: WebSocket, msg: InferMessage): Promise<void> => {
    const key = msg.requestIds[0] as string;
    const controller = new AbortController();
    running.set(key, controller);
    emit({ type: 'infer', model: msg.model, requestIds: msg.requestIds });
    try {
      const started = performance.now();
      const outputs = await options.runModel(msg.model, msg.inputs, controller.signal, msg.deadlineMs);
      const computeMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (!controller.signal.aborted) send(socket, { type: 'result', requestIds: msg.requestIds, outputs, computeMs });
      else send(socket, { type: 'error', requestIds: msg.requestIds, error: toErrorData(controller.signal.reason) });
    } catch (err) {
      // A cancelled batch is answered too, once its run has stopped: the
      // coordinator keeps the batch's slot until then, so the session is not
      // sent more work while it is still computing. (On a closed socket the
      // send is a no-op.)
      send(socket, { type: 'error', requestIds: msg.requestIds, error: toErrorData(controller.signal.aborted ? controller.signal.reason : err) });
    } finally {
      running.delete(key);
    }
  };

  const runGeneration = async (socket: WebSocket, msg: GenerateMessage): Promise<void> => {
    const controller = new AbortController();
    running.set(msg.requestId, controller);
    emit({ type: 'generate', model: msg.model, requestId: msg.requestId });
    const started = performance.now();
    let chunks = 0;
    try {
      if (!options.runGenerate) throw new TesseraError('invalid-argument', `this session does not generate text (model "${msg.model}")`);
      const result = await options.runGenerate(msg.model, msg.request, (chunk) => {
        // Frames go out as each chunk is produced: the coordinator streams them on at once.
        if (controller.signal.aborted) return;
        chunks += 1;
        const first = chunks === 1 ? { sessionMs: Math.round((performance.now() - started) * 1000) / 1000 } : {};
        send(socket, { type: 'chunk', requestId: msg.requestId, chunk, ...first });
      }, controller.signal);
      if (!controller.signal.aborted) send(socket, { type: 'done', requestId: msg.requestId, result });
      emit({ type: 'generated', requestId: msg.requestId, outcome: controller.signal.aborted ? 'cancelled' : 'done', chunks });
    } catch (err) {
      if (!controller.signal.aborted) send(socket, { type: 'error', requestIds: [msg.requestId], error: toErrorData(err) });
      emit({ type: 'generated', requestId: msg.requestId, outcome: controller.signal.aborted ? 'cancelled' : 'error', chunks });
    } finally {
      running.delete(msg.requestId);
    }
  };

  const connect = (): void => {
    state = 'connecting';
    const socket = new Ctor(url);
    ws = socket;
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('open', () => {
      send(socket, { type: 'join', token: options.token, models, device: options.device, capacity: options.capacity, ...(sessionId ? { sessionId } : {}), ...(options.prewarmed ? { prewarmed: true } : {}) });
    });
    socket.addEventListener('message', (event: MessageEvent) => {
      let msg;
      try {
        msg = parseCoordinatorMessage(decodeMessage(event.data as string | ArrayBuffer));
      } catch (err) {
        const error = err instanceof TesseraError ? err : new TesseraError('bad-request', `unreadable coordinator frame: ${(err as Error).message}`, { cause: err });
        emit({ type: 'protocol-error', message: error.message, error });
        return;
      }
      switch (msg.type) {
        case 'joined':
          sessionId = msg.sessionId;
          state = 'joined';
          attempt = 0;
          clearInterval(heartbeat);
          heartbeat = setInterval(() => send(socket, { type: 'heartbeat' }), msg.heartbeatMs);
          for (const w of waiters) w.resolve(msg.sessionId);
          waiters = [];
          emit({ type: 'joined', sessionId: msg.sessionId });
          break;
        case 'infer':
          void runBatch(socket, msg);
          break;
        case 'generate':
          void runGeneration(socket, msg);
          break;
        case 'cancel':
          // The coordinator keys a batch by its first request id; a generation by its own.
          for (const id of msg.requestIds) running.get(id)?.abort(new TesseraError('aborted', 'cancelled by the coordinator'));
          break;
        case 'error': {
          const error = fromErrorData(msg.error);
          emit({ type: 'protocol-error', message: `${error.code}: ${error.message}`, error });
          break;
        }
        default: {
          const never: never = msg;
          const error = new TesseraError('bad-request', `unhandled message ${JSON.stringify(never)}`);
          emit({ type: 'protocol-error', message: error.message, error });
        }
      }
    });
    socket.addEventListener('close', (event: CloseEvent) => {
      if (ws !== socket) return;
      clearInterval(heartbeat);
      // Its batches were re-dispatched by the coordinator; answering them on a new socket would be refused.
      for (const c of running.values()) c.abort(new TesseraError('session-closed', 'socket closed'));
      running.clear();
      if (closing || state === 'closed') {
        finish(new TesseraError('session-closed', 'session closed'));
        return;
      }
      if (event.code === CLOSE_UNAUTHORIZED) {
        emit({ type: 'disconnected', code: event.code, reason: event.reason });
        finish(new TesseraError('unauthorized', 'the coordinator refused the join token'));
        return;
      }
      const retryInMs = Math.round(random() * Math.min(maxMs, baseMs * 2 ** attempt));
      attempt += 1;
      state = 'waiting';
      emit({ type: 'disconnected', code: event.code, reason: event.reason, retryInMs });
      retryTimer = setTimeout(connect, retryInMs);
    });
    // 'error' is always followed by 'close', which does the work.
    socket.addEventListener('error', () => undefined);
  };

  const close = async (): Promise<void> => {
    if (state === 'closed') return;
    closing = true;
    clearTimeout(retryTimer);
    const socket = ws;
    if (!socket || socket.readyState === 3) {
      finish(new TesseraError('session-closed', 'session closed'));
      return;
    }
    const closed = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve(), { once: true }));
    send(socket, { type: 'leave' });
    socket.close(1000, 'leaving');
    // A peer that never completes the closing handshake (a stalled or gone
    // coordinator) must not hang shutdown: 'leave' is already sent, so stop waiting.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
    const outcome = await Promise.race([closed, gaveUp]);
    clearTimeout(timer);
    if (outcome === 'timeout') finish(new TesseraError('session-closed', 'session closed'));
  };

  const onAbort = (): void => void close();
  if (options.signal?.aborted) {
    state = 'closed';
  } else {
    options.signal?.addEventListener('abort', onAbort, { once: true });
    connect();
  }

  return {
    get sessionId() {
      return sessionId;
    },
    get state() {
      return state;
    },
    get running() {
      return running.size;
    },
    joined() {
      if (state === 'joined' && sessionId) return Promise.resolve(sessionId);
      if (state === 'closed') return Promise.reject(new TesseraError('session-closed', 'session is closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    setModels(next) {
      models = next;
      if (ws && state === 'joined') send(ws, { type: 'models', models: next });
    },
    close,
  };
}

/**
 * The session socket URL for a coordinator given as a Worker base URL or a
 * WebSocket URL.
 *
 * @example
 * sessionUrl('http://127.0.0.1:8787'); // 'ws://127.0.0.1:8787/v1/sessions'
 */
export function sessionUrl(base: string): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch (cause) {
    throw new TesseraError('invalid-argument', `coordinator URL "${base}" is not a URL; use e.g. http://127.0.0.1:8787`, { cause });
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new TesseraError('invalid-argument', `coordinator URL must be http(s) or ws(s), got ${u.protocol}`);
  }
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/sessions';
  return u.toString();
}
