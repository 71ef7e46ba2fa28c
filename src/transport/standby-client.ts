/**
 * A session's offer to load models on request (demand-driven prewarming): one
 * WebSocket to the directory (`/v1/sessions/standby`, standby-messages.ts)
 * carrying the offer (budget, which models, device, what it already holds).
 * When the directory sends `prewarm`, the injected `load` loads the model
 * through the normal loader and joins that model's pool as a normal session
 * marked `prewarmed`; this client reports progress (throttled), `ready` or
 * `failed`, and on `unload` disposes of it (leaving the pool) and says
 * `unloaded`. What it loaded counts against its budget until then.
 *
 * Works in Node 22 and in browsers. Reconnects like the pool socket
 * (exponential backoff, full jitter, its previous id); prewarmed models are
 * separate pool sessions and keep serving while this socket is down, and the
 * next offer lists them. A refused token (close code 4401) is final.
 */
import { TesseraError, toErrorData } from '../errors.ts';
import { CLOSE_UNAUTHORIZED } from '../protocol/coordinator-messages.ts';
import {
  decodeStandbyFrame,
  offersModel,
  parseDirectoryStandbyMessage,
  type DirectoryStandbyMessage,
  type PrewarmedLoad,
  type PrewarmMessage,
  type StandbyModels,
  type StandbySessionMessage,
} from '../protocol/standby-messages.ts';
import { errorFrameEvent, openReconnectingSocket, unhandledFrameEvent, webSocketConstructor, webSocketUrl } from './reconnecting-socket.ts';
import type { ProtocolErrorEvent, ReconnectingSocket, ReconnectingSocketEvent, SocketClientOptions } from './reconnecting-socket.ts';

/** A loaded, pool-joined prewarmed model; close() leaves the pool and frees the model. */
export interface PrewarmedModel {
  close(): Promise<void>;
}

/** What `load` gets for one ask. */
export interface PrewarmRequest {
  model: string;
  revision: string;
  /** The pack's size as the directory knows it. */
  bytes: number;
  /** Report loading progress (the client throttles what it sends). */
  onProgress: (loadedBytes: number, totalBytes: number) => void;
  /** Aborted when the directory says `unload` before the load finished, or the client closes. */
  signal: AbortSignal;
}

/** Loads the model through the loader and joins its pool with `prewarmed: true`; resolves once joined. */
export type PrewarmLoader = (request: PrewarmRequest) => Promise<PrewarmedModel>;

export type StandbyClientEvent =
  | { type: 'standing-by'; sessionId: string }
  | { type: 'disconnected'; code: number; reason: string; retryInMs?: number }
  | { type: 'prewarm'; model: string; revision: string; bytes: number }
  | { type: 'declined'; model: string; reason: string }
  | { type: 'ready'; model: string; loadMs: number }
  | { type: 'failed'; model: string; error: TesseraError }
  | { type: 'unloaded'; model: string; reason: string }
  | ProtocolErrorEvent;

export interface StandbyClientOptions extends SocketClientOptions {
  /** The Worker's http(s) base URL, or the standby socket's ws(s) URL. */
  url: string;
  token: string;
  device: string;
  budgetBytes: number;
  models: StandbyModels;
  /** Models this session already serves on its own: the directory never asks for them. */
  serving?: string[];
  load: PrewarmLoader;
  /** Least time between two progress frames for one model (the last one always goes). Default 500 ms. */
  progressIntervalMs?: number;
  onEvent?: (event: StandbyClientEvent) => void;
  /** Aborting closes the client and disposes of everything it loaded. */
  signal?: AbortSignal;
}

export interface StandbyClient {
  readonly sessionId: string | undefined;
  readonly state: 'connecting' | 'standing-by' | 'waiting' | 'closed';
  /** Resolves once the directory accepted the offer (again, after a reconnect). */
  standingBy(): Promise<string>;
  /** Prewarmed models held now (ready), and the bytes they and running loads take from the budget. */
  readonly loaded: PrewarmedLoad[];
  readonly usedBytes: number;
  /** Sends `leave`, disposes of every prewarmed model (leaving their pools) and closes. */
  close(): Promise<void>;
}

interface Held {
  load: PrewarmedLoad;
  controller: AbortController;
  /** Settles once loaded (or failed). */
  model?: PrewarmedModel;
  ready: boolean;
}

/**
 * @example
 * const standby = connectStandby({
 *   url: 'http://127.0.0.1:8787', token, device: 'cpu', budgetBytes: 512 * 1024 * 1024, models: 'all',
 *   load: async ({ model, revision, onProgress, signal }) => joinPrewarmed(model, revision, onProgress, signal),
 * });
 * await standby.standingBy();
 */
export function connectStandby(options: StandbyClientOptions): StandbyClient {
  const Ctor = webSocketConstructor(options.WebSocket);
  const url = standbyUrl(options.url);
  const progressMs = options.progressIntervalMs ?? 500;
  const emit = (e: StandbyClientEvent): void => options.onEvent?.(e);

  let sessionId: string | undefined;
  let socket: ReconnectingSocket<StandbySessionMessage> | undefined;
  /** Set once it is closed for good (close(), a refused token, an aborted signal). */
  let closed = false;
  const held = new Map<string, Held>();
  let waiters: { resolve: (id: string) => void; reject: (e: unknown) => void }[] = [];

  const used = (): number => [...held.values()].reduce((n, h) => n + h.load.bytes, 0);
  /** Sends on the current socket once the offer is accepted; frames while it is down are dropped (the next offer says what is held). */
  const send = (msg: StandbySessionMessage): void => {
    if (socket?.state === 'joined') socket.send(msg);
  };
  const state = (): StandbyClient['state'] => {
    if (closed || !socket) return 'closed';
    switch (socket.state) {
      case 'joined':
        return 'standing-by';
      default:
        return socket.state;
    }
  };

  const prewarm = async (msg: PrewarmMessage): Promise<void> => {
    const { model, revision, bytes } = msg;
    const decline = (reason: string): void => {
      send({ type: 'declined', model, reason });
      emit({ type: 'declined', model, reason });
    };
    if (!offersModel(options.models, model)) return decline(`model "${model}" is not among the models this session offered`);
    if (options.serving?.includes(model)) return decline(`this session already serves "${model}"`);
    if (held.has(model)) return decline(`this session already holds or is loading "${model}"`);
    if (used() + bytes > options.budgetBytes) return decline(`"${model}" needs ${bytes} bytes; ${options.budgetBytes - used()} of the ${options.budgetBytes}-byte budget are free`);
    const entry: Held = { load: { model, revision, bytes }, controller: new AbortController(), ready: false };
    held.set(model, entry);
    emit({ type: 'prewarm', model, revision, bytes });
    const started = performance.now();
    let lastSent = -Infinity;
    let pending: { loaded: number; total: number } | undefined;
    let flush: ReturnType<typeof setTimeout> | undefined;
    const sendProgress = (loaded: number, total: number): void => {
      lastSent = performance.now();
      pending = undefined;
      send({ type: 'progress', model, loadedBytes: Math.min(loaded, total), totalBytes: total });
    };
    const onProgress = (loaded: number, total: number): void => {
      if (entry.controller.signal.aborted) return;
      const wait = lastSent + progressMs - performance.now();
      // The first, the last and at most one per interval in between; a held-back one goes out when the interval ends.
      if (wait <= 0 || loaded >= total) {
        clearTimeout(flush);
        sendProgress(loaded, total);
        return;
      }
      pending = { loaded, total };
      flush ??= setTimeout(() => {
        flush = undefined;
        if (pending && !entry.controller.signal.aborted) sendProgress(pending.loaded, pending.total);
      }, wait);
    };
    try {
      const loaded = await options.load({ model, revision, bytes, onProgress, signal: entry.controller.signal });
      clearTimeout(flush);
      if (entry.controller.signal.aborted || held.get(model) !== entry) {
        // Unloaded (or closed) while it loaded: it joined its pool a moment ago; leave at once.
        await loaded.close().catch(() => undefined);
        return;
      }
      entry.model = loaded;
      entry.ready = true;
      send({ type: 'ready', model, revision });
      emit({ type: 'ready', model, loadMs: Math.round(performance.now() - started) });
    } catch (err) {
      clearTimeout(flush);
      if (held.get(model) === entry) held.delete(model);
      if (entry.controller.signal.aborted) return;
      const error = err instanceof TesseraError ? err : new TesseraError('internal', `prewarming ${model} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      send({ type: 'failed', model, error: toErrorData(error) });
      emit({ type: 'failed', model, error });
    }
  };

  const unload = async (model: string, reason: string): Promise<void> => {
    const entry = held.get(model);
    if (entry) {
      held.delete(model);
      entry.controller.abort(new TesseraError('aborted', `the directory asked to unload ${model}: ${reason}`));
      await entry.model?.close().catch(() => undefined);
    }
    // Said even for a model it does not hold: the directory's view is then right again.
    send({ type: 'unloaded', model });
    emit({ type: 'unloaded', model, reason });
  };

  const finish = (error: TesseraError): void => {
    closed = true;
    socket?.dispose();
    for (const w of waiters) w.reject(error);
    waiters = [];
    options.signal?.removeEventListener('abort', onAbort);
  };

  const onMessage = (msg: DirectoryStandbyMessage): void => {
    switch (msg.type) {
      case 'standing-by': {
        sessionId = msg.sessionId;
        socket?.joined(msg.heartbeatMs);
        for (const w of waiters) w.resolve(msg.sessionId);
        waiters = [];
        emit({ type: 'standing-by', sessionId: msg.sessionId });
        break;
      }
      case 'prewarm':
        void prewarm(msg);
        break;
      case 'unload':
        void unload(msg.model, msg.reason);
        break;
      case 'error':
        emit(errorFrameEvent(msg.error));
        break;
      default:
        emit(unhandledFrameEvent(msg));
    }
  };

  const onSocketEvent = (event: ReconnectingSocketEvent<DirectoryStandbyMessage, StandbySessionMessage>): void => {
    switch (event.type) {
      case 'message':
        onMessage(event.message);
        break;
      case 'protocol-error':
        emit(event);
        break;
      case 'closed':
        // close() started it and finishes the client.
        break;
      case 'refused':
        emit({ type: 'disconnected', code: event.code, reason: event.reason });
        finish(new TesseraError('unauthorized', 'the directory refused the join token'));
        void disposeAll();
        break;
      case 'disconnected':
        emit({ type: 'disconnected', code: event.code, reason: event.reason, retryInMs: event.retryInMs });
        break;
      default:
        event satisfies never;
    }
  };

  const connect = (): ReconnectingSocket<StandbySessionMessage> => openReconnectingSocket<DirectoryStandbyMessage, StandbySessionMessage>({
    url,
    WebSocket: Ctor,
    encode: (msg) => JSON.stringify(msg),
    decode: (data) => parseDirectoryStandbyMessage(decodeStandbyFrame(data)),
    peer: 'directory',
    // Built at each open: a reconnect offers what it holds now, under its previous id.
    join: () => ({
      type: 'standby', token: options.token, device: options.device, budgetBytes: options.budgetBytes, models: options.models,
      serving: options.serving ?? [], loaded: [...held.values()].filter((h) => h.ready).map((h) => h.load), ...(sessionId ? { sessionId } : {}),
    }),
    heartbeat: { type: 'heartbeat' },
    finalCloseCodes: [CLOSE_UNAUTHORIZED],
    backoff: options.backoff,
    random: options.random,
    onEvent: onSocketEvent,
  });

  const disposeAll = async (): Promise<void> => {
    const all = [...held.values()];
    held.clear();
    for (const h of all) h.controller.abort(new TesseraError('session-closed', 'the standby session is closing'));
    await Promise.all(all.map((h) => h.model?.close().catch(() => undefined)));
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closed) return Promise.resolve();
    closing ??= (async () => {
      // Waits for the directory's half of the closing handshake, at most the socket's close timeout.
      await socket?.close({ code: 1000, reason: 'leaving', leave: { type: 'leave' } });
      finish(new TesseraError('session-closed', 'standby closed'));
      await disposeAll();
    })();
    return closing;
  };

  const onAbort = (): void => void close();
  if (options.signal?.aborted) {
    closed = true;
  } else {
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket = connect();
  }

  return {
    get sessionId() {
      return sessionId;
    },
    get state() {
      return state();
    },
    get loaded() {
      return [...held.values()].filter((h) => h.ready).map((h) => ({ ...h.load }));
    },
    get usedBytes() {
      return used();
    },
    standingBy() {
      if (state() === 'standing-by' && sessionId) return Promise.resolve(sessionId);
      if (state() === 'closed') return Promise.reject(new TesseraError('session-closed', 'standby is closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    close,
  };
}

/**
 * The standby socket URL for a Worker base URL (or a ws(s) URL, kept as given).
 *
 * @example
 * standbyUrl('http://127.0.0.1:8787'); // 'ws://127.0.0.1:8787/v1/sessions/standby'
 */
export function standbyUrl(base: string): string {
  return webSocketUrl(base, '/v1/sessions/standby');
}
