/**
 * The coordinator Durable Object: executes the pure Coordinator's actions over
 * hibernatable WebSockets (sessions) and RPC (the inference API).
 *
 * Hibernation: the runtime may drop this object's memory while sockets stay
 * open. Each socket's attachment (serializeAttachment, ≤ 2 KiB) holds its
 * SessionSnapshot, and the first event after a wake-up rebuilds the
 * Coordinator from every socket's attachment. Nothing in flight is lost to
 * hibernation: an object with pending RPC calls (requests waiting for results)
 * is not hibernated. Eviction (a restart) does lose in-flight requests, but
 * their HTTP callers see the failure; sessions reconnect and are rebuilt.
 *
 * Wiring (in wrangler.jsonc and worker/index.ts, owned by the Worker):
 *   durable_objects.bindings: [{ name: "COORDINATOR", class_name: "CoordinatorObject" }]
 *   migrations: [{ tag: "v1", new_sqlite_classes: ["CoordinatorObject"] }]
 *   index.ts: `export { CoordinatorObject } from './coordinator-do.ts'`
 *   route GET /v1/sessions (Upgrade: websocket) -> env.COORDINATOR.get(idFromName('default')).fetch(request)
 *   inference routes -> stub.infer({ id, model, inputs }) ; /metrics -> stub.metricsText()
 *   secret TESSERA_JOIN_TOKEN: the token sessions send in `join`.
 */
import { DurableObject } from 'cloudflare:workers';
import type { InferenceRequest, InferenceResponse, CoordinatorAction, GenerationEvent, GenerationRequest } from '../src/coordinator/actions.ts';
import { Coordinator, type SessionSnapshot } from '../src/coordinator/coordinator.ts';
import type { CoordinatorConfig } from '../src/coordinator/config.ts';
import { renderPrometheus } from '../src/coordinator/render-prometheus.ts';
import { CLOSE_JOIN_TIMEOUT, CLOSE_REPLACED, CLOSE_UNAUTHORIZED, JOIN_TIMEOUT_MS, decodeMessage, encodeMessage, parseSessionMessage, type ModelOffer } from '../src/protocol/coordinator-messages.ts';
import { TesseraError, toErrorData } from '../src/errors.ts';
import { errorResponse } from './http-error.ts';
import { timingSafeEqualText } from './lib/timing-safe-equal.ts';

/** A model as the inference APIs list it: a session's offer plus how many sessions have it warm. */
export interface ModelDescription extends ModelOffer {
  sessions: number;
}

export interface CoordinatorEnv {
  TESSERA_JOIN_TOKEN?: string;
  /** JSON of Partial<CoordinatorConfig>. */
  TESSERA_COORDINATOR_CONFIG?: string;
}

/** Alarms fire up to ~100 ms early under wrangler dev: a join due this soon counts as due. */
const ALARM_EARLY_MS = 250;

/** Wake-ups closer than this use a timer rather than the storage alarm. */
const SHORT_WAKE_MS = 1_000;

/**
 * How stale a socket's attachment may get: it is rewritten on join and model
 * changes at once, and for the measured rate at most this often (a rewrite per
 * result frame is work on the hot path for a figure that only seeds routing
 * after a hibernation).
 */
const ATTACHMENT_REFRESH_MS = 1_000;

/** Where one request's time went, on the object's clock (ms): for `Server-Timing`. */
export interface InferTiming {
  /** Submitted to dispatched to a session (queueing, batching window). */
  queueMs: number;
  /** Dispatched to answered: the session's run plus both WebSocket hops. */
  sessionMs: number;
}

export type TimedResponse = InferenceResponse & { timing?: InferTiming };

/** Where a traced generation's time went, on the object's clock (ms). */
export interface GenerationTiming {
  /** Submitted to dispatched to a session. */
  queueMs: number;
  /** Submitted to the first chunk arriving from the session. */
  ttftMs: number;
  /** The session's own time to first token, as it reported it. */
  sessionTtftMs?: number;
}

/**
 * One line of the NDJSON stream generate() returns: the coordinator's event,
 * and on a traced request's first chunk where its time went.
 */
export type GenerationStreamEvent = GenerationEvent & { timing?: GenerationTiming };


/**
 * A socket's attachment: the session's snapshot once joined; before that,
 * when its join is due (so the deadline survives hibernation); null once
 * closed or replaced.
 */
type Attachment = SessionSnapshot | PendingJoin | null;
interface PendingJoin { joinBy: number }

/** The session snapshot of a joined socket, or undefined. */
function joinedOf(attachment: Attachment | undefined): SessionSnapshot | undefined {
  return typeof attachment === 'object' && attachment !== null && 'id' in attachment ? attachment : undefined;
}

export class CoordinatorObject extends DurableObject<CoordinatorEnv> {
  #coordinator: Coordinator | undefined;
  readonly #waiting = new Map<string, (response: InferenceResponse) => void>();
  /** Joined sockets by session id: a send must not deserialize every socket's attachment to find its own. */
  readonly #sockets = new Map<string, WebSocket>();
  /** When each session's attachment was last written. */
  readonly #attachedAt = new Map<string, number>();
  /** Traced requests: submitted and dispatched times. */
  readonly #traces = new Map<string, { submitted: number; dispatched?: number }>();
  /** Sockets upgraded but not joined yet, and when their join is due (rebuilt from attachments after hibernation). */
  readonly #pendingJoins = new Map<WebSocket, number>();
  /** Open generation streams by request id, with trace times when traced. */
  readonly #streams = new Map<string, { controller: ReadableStreamDefaultController<Uint8Array>; trace?: { submitted: number; dispatched?: number } }>();
  readonly #encoder = new TextEncoder();
  #alarmAt: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt: number | undefined;

  /** The coordinator, rebuilt from socket attachments after hibernation. */
  #get(): Coordinator {
    if (this.#coordinator) return this.#coordinator;
    const config = this.env.TESSERA_COORDINATOR_CONFIG ? (JSON.parse(this.env.TESSERA_COORDINATOR_CONFIG) as Partial<CoordinatorConfig>) : {};
    const c = new Coordinator({ config });
    this.#coordinator = c;
    const now = Date.now();
    const snaps: SessionSnapshot[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = ws.deserializeAttachment() as Attachment | undefined;
      if (typeof attachment === 'object' && attachment !== null && 'joinBy' in attachment) this.#pendingJoins.set(ws, attachment.joinBy);
      const snap = joinedOf(attachment);
      if (!snap) continue;
      this.#sockets.set(snap.id, ws);
      snaps.push(snap);
    }
    for (const snap of snaps) {
      // The lease restarts from now: time spent hibernated is not the session's silence.
      this.#run(c.restoreSession({ ...snap, leaseUntil: Math.max(snap.leaseUntil, now + c.config.leaseMs) }, now));
    }
    return c;
  }

  #socketOf(sessionId: string): WebSocket | undefined {
    this.#get();
    return this.#sockets.get(sessionId);
  }

  /** Session sockets: `Upgrade: websocket` requests forwarded by the Worker. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return errorResponse(426, 'bad-request', 'session endpoint needs a WebSocket upgrade');
    }
    // Rebuild first (after a hibernation), so the new socket is not read before it has an attachment.
    this.#get();
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const joinBy = Date.now() + JOIN_TIMEOUT_MS;
    server.serializeAttachment({ joinBy } satisfies PendingJoin);
    this.#pendingJoins.set(server, joinBy);
    this.#run([]);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * RPC from the Worker's inference routes; resolves with the result or a
   * typed error. With `trace`, the answer says where the time went.
   */
  async infer(request: InferenceRequest, trace = false): Promise<TimedResponse> {
    const c = this.#get();
    const answer = new Promise<InferenceResponse>((resolve) => this.#waiting.set(request.id, resolve));
    if (trace) this.#traces.set(request.id, { submitted: Date.now() });
    this.#run(c.submit(request, Date.now()));
    if (!trace) return answer;
    const response = await answer;
    const t = this.#traces.get(request.id);
    this.#traces.delete(request.id);
    const now = Date.now();
    const dispatched = t?.dispatched ?? now;
    return { ...response, timing: { queueMs: dispatched - (t?.submitted ?? now), sessionMs: now - dispatched } };
  }

  /**
   * RPC: the HTTP client of request `requestId` went away. It leaves the
   * queue, or its session is told to stop it; its pending infer() answers
   * `aborted`. Unknown or finished ids are ignored (the answer raced the
   * disconnect).
   */
  async cancel(requestId: string): Promise<void> {
    this.#run(this.#get().cancel(requestId, Date.now()));
  }

  /**
   * RPC from the OpenAI routes: starts a generation and returns its events as
   * they happen, one JSON line each ({@link GenerationStreamEvent}), ending
   * after `done` or `error`. Each line is enqueued the moment the session's
   * frame arrives: nothing is held back for the end. Cancelling the stream,
   * or cancel(request.id), cancels the generation on its session.
   */
  async generate(request: GenerationRequest, trace = false): Promise<ReadableStream<Uint8Array>> {
    const c = this.#get();
    const id = request.id;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#streams.set(id, { controller, ...(trace ? { trace: { submitted: Date.now() } } : {}) });
      },
      cancel: () => this.#cancelStream(id),
    });
    this.#run(c.submitGeneration(request, Date.now()));
    return stream;
  }

  #cancelStream(id: string): void {
    if (!this.#streams.delete(id)) return;
    this.#run(this.#get().cancel(id, Date.now()));
  }

  #streamEvent(requestId: string, event: GenerationEvent): void {
    const open = this.#streams.get(requestId);
    if (!open) return;
    let line: GenerationStreamEvent = event;
    const t = open.trace;
    if (t && event.type === 'chunk') {
      const now = Date.now();
      line = { ...event, timing: { queueMs: (t.dispatched ?? now) - t.submitted, ttftMs: now - t.submitted, ...(event.sessionMs !== undefined ? { sessionTtftMs: event.sessionMs } : {}) } };
      // Only the first chunk carries timing.
      delete open.trace;
    }
    try {
      open.controller.enqueue(this.#encoder.encode(JSON.stringify(line) + '\n'));
      if (event.type !== 'chunk') {
        this.#streams.delete(requestId);
        open.controller.close();
      }
    } catch {
      // The reader is gone: cancel() runs (or ran) and cancels the generation.
    }
  }

  async metricsText(): Promise<string> {
    return renderPrometheus(this.#get().metrics());
  }

  /**
   * Every model some session has warm, with the input/output specs the first
   * session that declared them gave (sessions of one model are expected to
   * agree: they load the same pack).
   */
  async listModels(): Promise<ModelDescription[]> {
    const c = this.#get();
    const byName = new Map<string, ModelDescription>();
    for (const info of c.sessions()) {
      const snap = c.snapshotSession(info.id);
      for (const offer of snap?.models ?? []) {
        const known = byName.get(offer.name);
        if (known) {
          known.sessions += 1;
          if (!known.inputs && offer.inputs) known.inputs = offer.inputs;
          if (!known.outputs && offer.outputs) known.outputs = offer.outputs;
        } else {
          byName.set(offer.name, { ...offer, sessions: 1 });
        }
      }
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Sessions as the coordinator sees them (ids, models, load): for tests and status pages. */
  async sessionList(): Promise<ReturnType<Coordinator['sessions']>> {
    return this.#get().sessions();
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const c = this.#get();
    const now = Date.now();
    const joined = joinedOf(ws.deserializeAttachment() as Attachment);
    let msg;
    try {
      msg = parseSessionMessage(decodeMessage(data));
    } catch (err) {
      ws.send(encodeMessage({ type: 'error', error: toErrorData(err) }));
      // Before a join, a malformed message (a join without a token included) is refused like a wrong token.
      if (!joined) this.#refuse(ws);
      return;
    }
    if (!joined) {
      if (msg.type !== 'join' || !(await this.#tokenOk(msg.token))) {
        // Same answer for a missing and a wrong token: no hint of valid ones.
        ws.send(encodeMessage({ type: 'error', error: toErrorData(new TesseraError('unauthorized', 'join first, with a valid token')) }));
        this.#refuse(ws);
        return;
      }
      this.#pendingJoins.delete(ws);
      const old = msg.sessionId ? this.#socketOf(msg.sessionId) : undefined;
      const { sessionId, actions } = c.join(msg, now);
      if (old && old !== ws) {
        old.serializeAttachment(null);
        old.close(CLOSE_REPLACED, 'replaced by a newer connection');
      }
      this.#sockets.set(sessionId, ws);
      ws.serializeAttachment(c.snapshotSession(sessionId) ?? null);
      this.#attachedAt.set(sessionId, now);
      this.#run(actions);
      return;
    }
    this.#run(c.handle(joined.id, msg, now));
    if (msg.type === 'models' || now - (this.#attachedAt.get(joined.id) ?? 0) >= ATTACHMENT_REFRESH_MS) {
      const snap = c.snapshotSession(joined.id);
      if (snap) {
        ws.serializeAttachment(snap);
        this.#attachedAt.set(joined.id, now);
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code?: number, reason?: string): Promise<void> {
    // Complete the closing handshake: without the reply the peer's close()
    // waits out its own timeout (10 s in Node's WebSocket) before it can
    // reconnect. 1005/1006 are reserved and cannot be sent back.
    try {
      ws.close(code === undefined || code === 1005 || code === 1006 ? 1000 : code, reason ?? '');
    } catch {
      // Already closed (the runtime replied itself).
    }
    this.#pendingJoins.delete(ws);
    const snap = joinedOf(ws.deserializeAttachment() as Attachment);
    if (!snap) return;
    const c = this.#get();
    // Only the socket that holds the id: a replaced one has a null attachment already.
    if (this.#sockets.get(snap.id) === ws) this.#sockets.delete(snap.id);
    this.#attachedAt.delete(snap.id);
    this.#run(c.disconnect(snap.id, Date.now()));
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws);
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    const c = this.#get();
    this.#closeSilentSockets(Date.now());
    this.#run(c.tick(Date.now()));
    this.#armJoinAlarm();
  }

  /** Closes an unjoined socket as unauthorized (the client stops retrying). */
  #refuse(ws: WebSocket): void {
    this.#pendingJoins.delete(ws);
    ws.serializeAttachment(null);
    ws.close(CLOSE_UNAUTHORIZED, 'unauthorized');
  }

  /**
   * Sockets that never sent `join` within JOIN_TIMEOUT_MS of the upgrade get
   * a `timeout` error frame and are closed with CLOSE_JOIN_TIMEOUT. (Under
   * wrangler dev the frame and the close handshake happen at once, while
   * Node's WebSocket reports `close` only ~10 s later, when the TCP
   * connection ends.)
   */
  #closeSilentSockets(now: number): void {
    for (const [ws, joinBy] of this.#pendingJoins) {
      if (joinBy > now + ALARM_EARLY_MS) continue;
      this.#pendingJoins.delete(ws);
      try {
        ws.serializeAttachment(null);
        ws.send(encodeMessage({ type: 'error', error: toErrorData(new TesseraError('timeout', `no join within ${JOIN_TIMEOUT_MS} ms of the upgrade`)) }));
        ws.close(CLOSE_JOIN_TIMEOUT, `no join within ${JOIN_TIMEOUT_MS} ms`);
      } catch {
        // Already closed.
      }
    }
  }

  /**
   * Join deadlines always go to the storage alarm, never to the in-memory
   * timer: an unjoined socket leaves the object idle, so it may hibernate
   * (which drops timers), and a close sent from a timer callback reached the
   * client only ~10 s later under wrangler dev, where one sent from the alarm
   * handler arrives at once.
   */
  #armJoinAlarm(): void {
    let at: number | undefined;
    for (const joinBy of this.#pendingJoins.values()) if (at === undefined || joinBy < at) at = joinBy;
    if (at === undefined) return;
    const now = Date.now();
    if (this.#alarmAt === undefined || at < this.#alarmAt || this.#alarmAt <= now) {
      this.#alarmAt = at;
      void this.ctx.storage.setAlarm(at);
    }
  }

  async #tokenOk(token: string): Promise<boolean> {
    const expected = this.env.TESSERA_JOIN_TOKEN;
    if (!expected) return false;
    // Hashing awaits, and an await is where a Durable Object takes the next
    // event: block them, so a message that follows a join is never seen
    // before the join is decided.
    return this.ctx.blockConcurrencyWhile(() => timingSafeEqualText(token, expected));
  }

  #run(actions: CoordinatorAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          if (a.message.type === 'generate') {
            const t = this.#streams.get(a.message.requestId)?.trace;
            if (t) t.dispatched = Date.now();
          }
          if (a.message.type === 'infer' && this.#traces.size > 0) {
            const at = Date.now();
            for (const id of a.message.requestIds) {
              const t = this.#traces.get(id);
              if (t) t.dispatched = at;
            }
          }
          try {
            this.#socketOf(a.sessionId)?.send(encodeMessage(a.message));
          } catch {
            // A socket closing under us: webSocketClose re-dispatches its work.
          }
          break;
        case 'respond': {
          const resolve = this.#waiting.get(a.requestId);
          this.#waiting.delete(a.requestId);
          resolve?.(a.response);
          break;
        }
        case 'stream':
          this.#streamEvent(a.requestId, a.event);
          break;
        case 'close': {
          const ws = this.#socketOf(a.sessionId);
          this.#sockets.delete(a.sessionId);
          ws?.serializeAttachment(null);
          ws?.close(a.code, a.reason);
          break;
        }
        default: {
          const never: never = a;
          throw new TesseraError('internal', `unhandled action ${JSON.stringify(never)}`);
        }
      }
    }
    this.#armJoinAlarm();
    const at = this.#coordinator?.nextWakeAt();
    if (at === undefined) return;
    const now = Date.now();
    if (at - now < SHORT_WAKE_MS) {
      // Batching windows and backoffs are milliseconds away: an in-memory timer
      // is far more precise than an alarm, and the object is awake anyway
      // (it has requests waiting) when such a wake-up is pending.
      if (this.#timerAt === undefined || at < this.#timerAt) {
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timerAt = at;
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#timerAt = undefined;
          this.#run(this.#get().tick(Date.now()));
        }, Math.max(0, at - now));
      }
      return;
    }
    // Leases and deadlines: an alarm, which survives hibernation and eviction.
    if (this.#alarmAt === undefined || at < this.#alarmAt || this.#alarmAt <= now) {
      this.#alarmAt = at;
      void this.ctx.storage.setAlarm(at);
    }
  }
}
