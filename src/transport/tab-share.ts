/**
 * One model session per origin, shared by its tabs. Every tab asks for the
 * same Web Lock; the tab that holds it leads: it loads the model and serves
 * requests that the other tabs post on a BroadcastChannel. The lock is held
 * while the leading tab lives; when it closes the browser hands the lock to
 * the next tab in line, which loads the model (from the cache: no network
 * bytes) and announces itself, and every tab re-sends the requests that were
 * still unanswered. Requests carry ids, so none is lost or answered twice.
 *
 * A handler may stream: what it emits reaches the asking tab as `chunk`
 * messages before the result (generated tokens). A request whose chunks had
 * begun to arrive is not re-sent when the leader goes away (its answer would
 * start over): it fails with `unavailable` instead of ending silently.
 */
import { TesseraError, fromErrorData, toErrorData } from '../errors.ts';
import { parseTabMessage, type TabMessage } from './tab-messages.ts';

/** Serves one request in the leading tab; `emit` streams a chunk to the asking tab. */
export type TabHandler<Req, Res, C = never> = (request: Req, signal: AbortSignal, emit: (chunk: C) => void) => Promise<Res>;

export type TabRole = 'leader' | 'follower';

export interface TabShareOptions<Req, Res, C = never> {
  /** Names the lock and the channel, e.g. `tessera:ppocr-v4`. Tabs with the same name share. */
  name: string;
  /** Called once, when this tab becomes the leader: load the model, return the handler. */
  lead: () => Promise<TabHandler<Req, Res, C>>;
  onRoleChange?: (role: TabRole, leaderId: string | undefined) => void;
  /** Called in the leader for each request it serves (its own or another tab's). */
  onServed?: (request: { id: string; from: string }) => void;
  /** Defaults: `navigator.locks`, the global BroadcastChannel, a random id. */
  locks?: LockManager;
  BroadcastChannel?: typeof BroadcastChannel;
  tabId?: string;
}

export interface TabRequestOptions<C> {
  signal?: AbortSignal;
  /** Chunks the handler emits, as they arrive. */
  onChunk?: (chunk: C) => void;
  /**
   * On abort, tell the leader to stop and wait for its answer (a generation
   * answers with what it made) instead of rejecting with `aborted` at once.
   */
  waitOnAbort?: boolean;
}

export interface TabShare<Req, Res, C = never> {
  readonly tabId: string;
  readonly role: TabRole;
  /** The leading tab's id, once known. */
  readonly leaderId: string | undefined;
  /** Runs `request` in the leading tab (this one, or another). */
  request(request: Req, options?: TabRequestOptions<C>): Promise<{ result: Res; servedBy: string }>;
  /** Leaves: releases the lock (if held) and fails pending requests with `session-closed`. */
  close(): void;
}

interface Pending<Req, Res, C> {
  payload: Req;
  onChunk: ((chunk: C) => void) | undefined;
  /** A chunk came: the answer is under way and cannot move to another leader. */
  streaming: boolean;
  resolve: (value: { result: Res; servedBy: string }) => void;
  reject: (error: unknown) => void;
  /** The leader this request was last posted to (re-sent when another leads). */
  sentTo: string | undefined;
}

/**
 * @example
 * const share = shareAcrossTabs({
 *   name: 'tessera:ppocr-v4',
 *   lead: async () => { const ocr = await loadOcr(...); return (bytes) => ocr.recognize(bytes); },
 * });
 * const { result, servedBy } = await share.request(pngBytes);
 */
export function shareAcrossTabs<Req, Res, C = never>(options: TabShareOptions<Req, Res, C>): TabShare<Req, Res, C> {
  const locks = options.locks ?? globalThis.navigator?.locks;
  const Channel = options.BroadcastChannel ?? globalThis.BroadcastChannel;
  if (!locks || !Channel) {
    throw new TesseraError('device-unavailable', 'tab sharing needs Web Locks and BroadcastChannel (a secure context in a current browser)');
  }
  const tabId = options.tabId ?? crypto.randomUUID();
  const channel = new Channel(`${options.name}:channel`);
  const closing = new AbortController();
  const pending = new Map<string, Pending<Req, Res, C>>();
  /** Requests this tab serves as leader, by id, each with its own abort. */
  const serving = new Map<string, AbortController>();
  let role: TabRole = 'follower';
  let leaderId: string | undefined;
  let handler: Promise<TabHandler<Req, Res, C>> | undefined;
  let nextId = 0;

  const post = (message: TabMessage<Req, Res, C>): void => channel.postMessage(message);

  const setLeader = (id: string, next: TabRole): void => {
    const changed = id !== leaderId || next !== role;
    leaderId = id;
    role = next;
    if (changed) options.onRoleChange?.(role, leaderId);
  };

  /** Leader side: serves one request, answering locally or on the channel. */
  const serve = async (id: string, from: string, payload: Req): Promise<void> => {
    // A request re-sent after a leader change may reach us twice (once from
    // the channel backlog, once re-sent): serve it once.
    if (serving.has(id)) return;
    const controller = new AbortController();
    const stop = () => controller.abort(closing.signal.reason);
    closing.signal.addEventListener('abort', stop, { once: true });
    serving.set(id, controller);
    const emit = (chunk: C) => {
      if (from === tabId) receiveChunk(id, chunk);
      else if (!closing.signal.aborted) post({ type: 'chunk', from: tabId, to: from, id, chunk });
    };
    try {
      const run = await (handler as Promise<TabHandler<Req, Res, C>>);
      const result = await run(payload, controller.signal, emit);
      options.onServed?.({ id, from });
      if (from === tabId) settle(id, { ok: true, result, servedBy: tabId });
      else if (!closing.signal.aborted) post({ type: 'result', from: tabId, to: from, id, result });
    } catch (error) {
      if (from === tabId) settle(id, { ok: false, error });
      else if (!closing.signal.aborted) post({ type: 'error', from: tabId, to: from, id, error: toErrorData(error) });
    } finally {
      serving.delete(id);
      closing.signal.removeEventListener('abort', stop);
    }
  };

  const receiveChunk = (id: string, chunk: C): void => {
    const entry = pending.get(id);
    if (!entry) return;
    entry.streaming = true;
    entry.onChunk?.(chunk);
  };

  const settle = (id: string, outcome: { ok: true; result: Res; servedBy: string } | { ok: false; error: unknown }): void => {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    if (outcome.ok) entry.resolve({ result: outcome.result, servedBy: outcome.servedBy });
    else entry.reject(outcome.error);
  };

  /** Posts (or runs) every unanswered request that the current leader has not seen. */
  const flush = (): void => {
    if (leaderId === undefined) return;
    for (const [id, entry] of pending) {
      if (entry.sentTo === leaderId) continue;
      if (entry.streaming) {
        // Its leader left mid-answer: re-running it elsewhere would repeat what was already streamed.
        settle(id, { ok: false, error: new TesseraError('unavailable', 'the tab that was streaming this answer closed before it finished; send the request again') });
        continue;
      }
      entry.sentTo = leaderId;
      if (role === 'leader') void serve(id, tabId, entry.payload);
      else post({ type: 'request', from: tabId, id, payload: entry.payload });
    }
  };

  channel.onmessage = (event: MessageEvent) => {
    const message = parseTabMessage(event.data) as TabMessage<Req, Res, C> | undefined;
    if (!message || message.from === tabId) return;
    switch (message.type) {
      case 'hello':
        if (role === 'leader') post({ type: 'leader', from: tabId });
        return;
      case 'leader':
        if (role === 'leader') return; // a stale announcement; the lock says we lead
        setLeader(message.from, 'follower');
        flush();
        return;
      case 'request':
        if (role === 'leader') void serve(message.id, message.from, message.payload);
        return;
      case 'result':
        if (message.to === tabId) settle(message.id, { ok: true, result: message.result, servedBy: message.from });
        return;
      case 'chunk':
        if (message.to === tabId) receiveChunk(message.id, message.chunk);
        return;
      case 'cancel':
        serving.get(message.id)?.abort(new TesseraError('aborted', 'the asking tab cancelled'));
        return;
      case 'error':
        if (message.to === tabId) settle(message.id, { ok: false, error: fromErrorData(message.error) });
        return;
      default: {
        const unknown: never = message;
        return void unknown;
      }
    }
  };

  // Queue for the lock. The callback's promise holds it until close() (or the
  // tab's end, when the browser releases it for us).
  locks
    .request(`${options.name}:leader`, { signal: closing.signal }, async () => {
      handler = options.lead();
      // A rejected load is reported per request; keep it from being unhandled.
      handler.catch(() => {});
      setLeader(tabId, 'leader');
      post({ type: 'leader', from: tabId });
      flush();
      await new Promise<void>((resolve) => closing.signal.addEventListener('abort', () => resolve(), { once: true }));
    })
    .catch(() => {
      // Aborted while waiting in line: this tab closed before it led.
    });
  post({ type: 'hello', from: tabId });

  return {
    tabId,
    get role() {
      return role;
    },
    get leaderId() {
      return leaderId;
    },
    request(payload, requestOptions = {}) {
      const signal = requestOptions.signal;
      if (closing.signal.aborted) return Promise.reject(new TesseraError('session-closed', 'this tab left the shared session'));
      if (signal?.aborted && !requestOptions.waitOnAbort) return Promise.reject(new TesseraError('aborted', 'The operation was aborted', { cause: signal.reason }));
      const id = `${tabId}:${nextId++}`;
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          const entry = pending.get(id);
          // The leader stops serving it (this tab's own handler, or another tab's).
          if (entry?.sentTo === tabId) serving.get(id)?.abort(new TesseraError('aborted', 'cancelled'));
          else if (entry?.sentTo !== undefined) post({ type: 'cancel', from: tabId, id });
          if (!requestOptions.waitOnAbort) settle(id, { ok: false, error: new TesseraError('aborted', 'The operation was aborted', { cause: signal?.reason }) });
        };
        const done = <T>(f: (v: T) => void) => (v: T) => {
          signal?.removeEventListener('abort', onAbort);
          f(v);
        };
        pending.set(id, { payload, onChunk: requestOptions.onChunk, streaming: false, resolve: done(resolve), reject: done(reject), sentTo: undefined });
        flush();
        signal?.addEventListener('abort', onAbort, { once: true });
        if (signal?.aborted) onAbort();
      });
    },
    close() {
      if (closing.signal.aborted) return;
      closing.abort();
      channel.close();
      for (const id of [...pending.keys()]) settle(id, { ok: false, error: new TesseraError('session-closed', 'this tab left the shared session') });
    },
  };
}
