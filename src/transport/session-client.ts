/**
 * A client session: connects to the coordinator pools of the models it
 * serves (one WebSocket per model, `/v1/sessions?model=<name>` on the
 * Worker), joins each with the token and that model's offer only,
 * heartbeats on each, runs the `infer` batches it is sent through an
 * injected `runModel`, and answers each with a `result` or `error` frame on
 * the socket the batch came from. Works in Node 22 and in browsers (both
 * have a global WebSocket; another constructor can be injected).
 *
 * Why a socket per pool: each model's pool is its own Durable Object (one
 * object is one thread in one place), so pools hibernate, evict, lease and
 * re-dispatch independently, and no shared object relays inference traffic
 * (a relay would be the single-object ceiling again). The session picks its
 * id once and joins every pool under it, so all pools (and the directory's
 * dashboard) know it as one session.
 *
 * When a socket drops it reconnects with exponential backoff and full
 * jitter, on its own (the other pools' sockets are untouched), sending the
 * session id so the pool keeps its identity (and backoff history). Work
 * running when a socket dropped is not answered: that pool has already
 * re-dispatched it elsewhere. A refused join token (close code 4401) is
 * final for the whole session: retrying cannot fix it. The socket loop
 * itself (join on open, heartbeat, backoff, close handshake) is
 * reconnecting-socket.ts, shared with the standby client.
 */
import { TesseraError, toErrorData } from '../errors.ts';
import {
  CLOSE_UNAUTHORIZED,
  decodeMessage,
  encodeMessage,
  parseCoordinatorMessage,
  type CoordinatorMessage,
  type GenerateMessage,
  type InferMessage,
  type ModelOffer,
  type SessionCapacity,
  type SessionMessage,
} from '../protocol/coordinator-messages.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import { errorFrameEvent, openReconnectingSocket, unhandledFrameEvent, webSocketConstructor, webSocketUrl } from './reconnecting-socket.ts';
import type { ProtocolErrorEvent, ReconnectingSocket, ReconnectingSocketEvent, SocketClientOptions } from './reconnecting-socket.ts';

export type { WebSocketConstructor } from './reconnecting-socket.ts';

/**
 * Runs one batch: `inputs` are concatenated along dim 0; outputs must keep the row order.
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
  /** Every pool the session serves has it joined (again, after a reconnect). */
  | { type: 'joined'; sessionId: string }
  /** One pool's socket closed; `model` names the pool. */
  | { type: 'disconnected'; code: number; reason: string; retryInMs?: number; model?: string }
  | { type: 'infer'; model: string; requestIds: string[] }
  | { type: 'generate'; model: string; requestId: string }
  /** A generation ended: how, and how many chunks went out (a cancelled one stops early). */
  | { type: 'generated'; requestId: string; outcome: 'done' | 'error' | 'cancelled'; chunks: number }
  /** A frame it could not read, or an `error` frame from the coordinator: `error` keeps its code. */
  | ProtocolErrorEvent;

export interface SessionClientOptions extends SocketClientOptions {
  /**
   * The coordinator: the Worker's http(s) base URL, or `ws(s)://host/v1/sessions`;
   * each model's socket adds `?model=<name>` (see poolSessionUrl).
   */
  url: string;
  token: string;
  models: ModelOffer[];
  /** What the session runs on, e.g. `webgpu`, `wasm`, `node-cpu`, `simulated`. */
  device: string;
  capacity: SessionCapacity;
  runModel: RunModel;
  /** Text generation for the offers with `task: 'text-generation'`; without it such requests get an error. */
  runGenerate?: RunGenerate;
  onEvent?: (event: SessionClientEvent) => void;
  /** Aborting closes the session for good (like close()). */
  signal?: AbortSignal;
  /** Joins marked `prewarmed`: the directory asked this session to load its models (standby-client.ts). */
  prewarmed?: boolean;
}

export interface SessionClient {
  /** The session's id, as the pools confirmed it; undefined until the first pool joined. */
  readonly sessionId: string | undefined;
  /**
   * `joined` once every pool it serves has it joined (also with no models:
   * nothing to join); `waiting` while some pool's socket waits to reconnect;
   * `connecting` while some are still joining.
   */
  readonly state: 'connecting' | 'joined' | 'waiting' | 'closed';
  /** Resolves with the session id once every pool has it joined (again, after a reconnect); rejects if the session is closed first. */
  joined(): Promise<string>;
  /** Batches and generations being run right now, over all pools. */
  readonly running: number;
  /**
   * Replaces the warm model list (a model finished loading or was dropped):
   * a new model opens its pool's socket, a dropped one leaves its pool and
   * closes that socket, a changed offer (a new revision) is sent to its pool
   * alone. The other pools see nothing.
   */
  setModels(models: ModelOffer[]): void;
  /** Sends `leave` to every pool (they stop sending work) and closes every socket. */
  close(): Promise<void>;
}

/** One pool's socket: the model it serves there, that socket (which reconnects on its own) and its running work. */
interface PoolLink {
  model: string;
  offer: ModelOffer;
  socket: ReconnectingSocket<SessionMessage>;
  /** Batches and generations this socket was sent and that are running, by key. */
  running: Map<string, AbortController>;
}

type Reply = (msg: SessionMessage) => boolean;

/**
 * @example
 * const session = connectSession({
 *   url: 'http://127.0.0.1:8787', token: process.env.TESSERA_JOIN_TOKEN!,
 *   models: [{ name: 'mlp', revision: 'r1', maxBatch: 8 }], device: 'wasm',
 *   capacity: { maxInFlight: 1, requestsPerSecond: 50 },
 *   runModel: (model, inputs) => handle.run(inputs),
 * });
 * await session.joined(); // joined the `mlp` pool (one socket per model served)
 */
export function connectSession(options: SessionClientOptions): SessionClient {
  const Ctor = webSocketConstructor(options.WebSocket);
  // Checked once up front: a bad URL is the caller's mistake, not something to retry.
  sessionUrl(options.url);
  const emit = (e: SessionClientEvent): void => options.onEvent?.(e);

  // One id for every pool, chosen here: pools are separate objects and
  // cannot agree on one, and the dashboard shows one session, not one per pool.
  const ownId = newSessionId();
  let sessionId: string | undefined;
  let closedState = false;
  let closing = false;
  let wasJoined = false;
  const links = new Map<string, PoolLink>();
  let waiters: { resolve: (id: string) => void; reject: (e: unknown) => void }[] = [];

  const overall = (): SessionClient['state'] => {
    if (closedState) return 'closed';
    let waiting = false;
    let connecting = false;
    for (const l of links.values()) {
      if (l.socket.state === 'waiting') waiting = true;
      else if (l.socket.state === 'connecting') connecting = true;
    }
    return waiting ? 'waiting' : connecting ? 'connecting' : 'joined';
  };

  /** Resolves joined() waiters and emits `joined` when the last pool joins. */
  const settle = (): void => {
    const state = overall();
    if (state !== 'joined') {
      if (state !== 'closed') wasJoined = false;
      return;
    }
    const id = sessionId ?? ownId;
    for (const w of waiters) w.resolve(id);
    waiters = [];
    if (!wasJoined && links.size > 0) emit({ type: 'joined', sessionId: id });
    wasJoined = true;
  };

  /** Its work is over: a closed socket's batches were re-dispatched by the pool, and answering them on a new socket would be refused. */
  const stopLink = (link: PoolLink, error: TesseraError): void => {
    for (const c of link.running.values()) c.abort(error);
    link.running.clear();
  };

  const finish = (error: TesseraError): void => {
    closedState = true;
    for (const link of links.values()) {
      link.socket.dispose();
      stopLink(link, error);
    }
    links.clear();
    for (const w of waiters) w.reject(error);
    waiters = [];
    options.signal?.removeEventListener('abort', onAbort);
  };

  const runBatch = async (link: PoolLink, reply: Reply, msg: InferMessage): Promise<void> => {
    const key = msg.requestIds[0] as string;
    const controller = new AbortController();
    link.running.set(key, controller);
    emit({ type: 'infer', model: msg.model, requestIds: msg.requestIds });
    try {
      const started = performance.now();
      const outputs = await options.runModel(msg.model, msg.inputs, controller.signal, msg.deadlineMs);
      const computeMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (!controller.signal.aborted) reply({ type: 'result', requestIds: msg.requestIds, outputs, computeMs });
      else reply({ type: 'error', requestIds: msg.requestIds, error: toErrorData(controller.signal.reason) });
    } catch (err) {
      // A cancelled batch is answered too, once its run has stopped: the
      // coordinator keeps the batch's slot until then, so the session is not
      // sent more work while it is still computing. (On a closed socket the
      // reply is a no-op.)
      reply({ type: 'error', requestIds: msg.requestIds, error: toErrorData(controller.signal.aborted ? controller.signal.reason : err) });
    } finally {
      link.running.delete(key);
    }
  };

  const runGeneration = async (link: PoolLink, reply: Reply, msg: GenerateMessage): Promise<void> => {
    const controller = new AbortController();
    link.running.set(msg.requestId, controller);
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
        reply({ type: 'chunk', requestId: msg.requestId, chunk, ...first });
      }, controller.signal);
      if (!controller.signal.aborted) reply({ type: 'done', requestId: msg.requestId, result });
      emit({ type: 'generated', requestId: msg.requestId, outcome: controller.signal.aborted ? 'cancelled' : 'done', chunks });
    } catch (err) {
      if (!controller.signal.aborted) reply({ type: 'error', requestIds: [msg.requestId], error: toErrorData(err) });
      emit({ type: 'generated', requestId: msg.requestId, outcome: controller.signal.aborted ? 'cancelled' : 'error', chunks });
    } finally {
      link.running.delete(msg.requestId);
    }
  };

  const onMessage = (link: PoolLink, msg: CoordinatorMessage, reply: Reply): void => {
    switch (msg.type) {
      case 'joined':
        sessionId = msg.sessionId;
        link.socket.joined(msg.heartbeatMs);
        settle();
        break;
      case 'infer':
        void runBatch(link, reply, msg);
        break;
      case 'generate':
        void runGeneration(link, reply, msg);
        break;
      case 'cancel':
        // The coordinator keys a batch by its first request id; a generation by its own.
        for (const id of msg.requestIds) link.running.get(id)?.abort(new TesseraError('aborted', 'cancelled by the coordinator'));
        break;
      case 'error':
        emit(errorFrameEvent(msg.error));
        break;
      default:
        emit(unhandledFrameEvent(msg));
    }
  };

  /** Sends `leave` and closes one pool's socket; it does not reconnect. */
  const leave = (link: PoolLink, reason: string): Promise<void> => link.socket.close({ code: 1000, reason, leave: { type: 'leave' } });

  const onSocketEvent = (link: PoolLink, event: ReconnectingSocketEvent<CoordinatorMessage, SessionMessage>): void => {
    switch (event.type) {
      case 'message':
        onMessage(link, event.message, event.reply);
        break;
      case 'protocol-error':
        emit(event);
        break;
      case 'closed':
        // It left this pool (setModels) or the session is closing (close() finishes it).
        stopLink(link, new TesseraError('session-closed', 'socket closed'));
        break;
      case 'refused':
        // The one final code (CLOSE_UNAUTHORIZED). One token for every pool: a refusal by one is a refusal by all.
        stopLink(link, new TesseraError('session-closed', 'socket closed'));
        emit({ type: 'disconnected', code: event.code, reason: event.reason, model: link.model });
        for (const other of links.values()) if (other !== link) void leave(other, 'join token refused');
        finish(new TesseraError('unauthorized', 'the coordinator refused the join token'));
        break;
      case 'disconnected':
        stopLink(link, new TesseraError('session-closed', 'socket closed'));
        settle();
        emit({ type: 'disconnected', code: event.code, reason: event.reason, retryInMs: event.retryInMs, model: link.model });
        break;
      default:
        event satisfies never;
    }
  };

  const addLink = (offer: ModelOffer): void => {
    const link: PoolLink = {
      model: offer.name,
      offer,
      running: new Map(),
      socket: openReconnectingSocket<CoordinatorMessage, SessionMessage>({
        url: poolSessionUrl(options.url, offer.name),
        WebSocket: Ctor,
        encode: encodeMessage,
        decode: (data) => parseCoordinatorMessage(decodeMessage(data)),
        peer: 'coordinator',
        // The offer and id as they are at this open: a revision set while it was down goes with this join.
        join: () => ({ type: 'join', token: options.token, models: [link.offer], device: options.device, capacity: options.capacity, sessionId: sessionId ?? ownId, ...(options.prewarmed ? { prewarmed: true } : {}) }),
        heartbeat: { type: 'heartbeat' },
        // Tensors travel as binary frames.
        binaryType: 'arraybuffer',
        finalCloseCodes: [CLOSE_UNAUTHORIZED],
        backoff: options.backoff,
        random: options.random,
        // Events come from the socket's own callbacks, never during this call: `link` is assigned by then.
        onEvent: (event) => onSocketEvent(link, event),
      }),
    };
    links.set(offer.name, link);
  };

  const setModels = (next: ModelOffer[]): void => {
    if (closedState || closing) return;
    const wanted = new Map(next.map((m) => [m.name, m]));
    for (const [model, link] of [...links]) {
      if (wanted.has(model)) continue;
      // Leaving a model leaves its pool: the pool re-dispatches nothing (it stops sending) and its socket closes.
      links.delete(model);
      void leave(link, 'model dropped');
      stopLink(link, new TesseraError('session-closed', `model "${model}" dropped by the session`));
    }
    for (const offer of wanted.values()) {
      const link = links.get(offer.name);
      if (!link) {
        addLink(offer);
        continue;
      }
      if (JSON.stringify(link.offer) === JSON.stringify(offer)) continue;
      link.offer = offer;
      // A new revision (or offer) goes to its own pool only; a socket that is not joined sends it with its next join.
      if (link.socket.state === 'joined') link.socket.send({ type: 'models', models: [offer] });
    }
    settle();
  };

  const close = async (): Promise<void> => {
    if (closedState) return;
    closing = true;
    // Each waits for its pool's half of the closing handshake, at most the
    // socket's close timeout; one waiting to reconnect stops at once.
    await Promise.all([...links.values()].map((link) => leave(link, 'leaving')));
    if (!closedState) finish(new TesseraError('session-closed', 'session closed'));
  };

  const onAbort = (): void => void close();
  if (options.signal?.aborted) {
    closedState = true;
  } else {
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (const offer of new Map(options.models.map((m) => [m.name, m])).values()) addLink(offer);
  }

  return {
    get sessionId() {
      return sessionId;
    },
    get state() {
      return overall();
    },
    get running() {
      let n = 0;
      for (const l of links.values()) n += l.running.size;
      return n;
    },
    joined() {
      const state = overall();
      if (state === 'joined') return Promise.resolve(sessionId ?? ownId);
      if (state === 'closed') return Promise.reject(new TesseraError('session-closed', 'session is closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    setModels,
    close,
  };
}

/** A fresh session id: a UUID where the runtime has one (randomUUID needs a secure context in browsers), else 128 random bits in hex. */
function newSessionId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The WebSocket URL of one model's pool: the session URL plus `?model=<name>`.
 *
 * @example
 * poolSessionUrl('http://127.0.0.1:8787', 'mlp'); // 'ws://127.0.0.1:8787/v1/sessions?model=mlp'
 */
export function poolSessionUrl(base: string, model: string): string {
  const u = new URL(sessionUrl(base));
  u.searchParams.set('model', model);
  return u.toString();
}

/**
 * The session socket URL for a coordinator given as a Worker base URL or a
 * WebSocket URL.
 *
 * @example
 * sessionUrl('http://127.0.0.1:8787'); // 'ws://127.0.0.1:8787/v1/sessions'
 */
export function sessionUrl(base: string): string {
  return webSocketUrl(base, '/v1/sessions');
}
