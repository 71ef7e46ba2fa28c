/**
 * A coordinator pool: one Durable Object per model
 * (`env.COORDINATOR.idFromName('pool:' + model)`, optionally placed by a
 * location hint from TESSERA_POOL_LOCATIONS). It executes the pure
 * Coordinator's actions over hibernatable WebSockets (the sessions that serve
 * its model, one socket each) and RPC (the inference API, for its model only).
 *
 * Why a pool per model: one Durable Object is one thread in one place, so a
 * single object for every model and session is the ceiling of the whole
 * system. Pools share nothing: each has its own leases, heartbeats, queue,
 * batching, 429s, re-dispatch, hibernation and eviction, and a hot model
 * cannot slow another model down. A session serving several models opens one
 * socket to each of their pools (src/transport/session-client.ts).
 *
 * The directory (worker/directory-do.ts) hears from each pool: its
 * PoolSummary after sessions join, leave or change models, and at most
 * about once a second while requests flow, sent with ctx.waitUntil, off the
 * request's path. `/v1/models`, health and `/metrics` read the directory.
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
 *   durable_objects.bindings: COORDINATOR -> CoordinatorObject, DIRECTORY -> DirectoryObject
 *   route GET /v1/sessions?model=<m> (Upgrade: websocket) -> poolOf(env, m).fetch(request), header X-Tessera-Pool: m
 *   inference routes -> poolOf(env, model).infer({ id, model, inputs })
 *   secret TESSERA_JOIN_TOKEN: the token sessions send in `join` (on every pool's socket).
 */
import { DurableObject } from 'cloudflare:workers';
import type { InferenceRequest, InferenceResponse, CoordinatorAction, GenerationEvent, GenerationRequest } from '../src/coordinator/actions.ts';
import { Coordinator, type SessionSnapshot } from '../src/coordinator/coordinator.ts';
import type { CoordinatorConfig } from '../src/coordinator/config.ts';
import type { LatencyHistogram, MetricsSnapshot } from '../src/coordinator/metrics.ts';
import type { PoolSummary } from '../src/coordinator/pool-summary.ts';
import { renderPrometheus } from '../src/coordinator/render-prometheus.ts';
import type { DirectoryObject } from './directory-do.ts';
import { CLOSE_JOIN_TIMEOUT, CLOSE_REPLACED, CLOSE_UNAUTHORIZED, JOIN_TIMEOUT_MS, decodeMessage, encodeMessage, parseSessionMessage, type ModelOffer } from '../src/protocol/coordinator-messages.ts';
import { TesseraError, toErrorData } from '../src/errors.ts';
import { errorResponse } from './http-error.ts';
import { timingSafeEqualText } from './lib/timing-safe-equal.ts';
import { DIRECTORY_NAME, POOL_HEADER } from './lib/pool-names.ts';

/** A model as the inference APIs list it: a session's offer plus how many sessions have it warm. */
export interface ModelDescription extends ModelOffer {
  sessions: number;
}

export interface CoordinatorEnv {
  /** The directory the pool reports to (worker/directory-do.ts). */
  DIRECTORY: DurableObjectNamespace<DirectoryObject>;
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

/** At most one traffic report to the directory per this interval (joins and leaves report at once). */
const REPORT_INTERVAL_MS = 1_000;

/** How long a join (or a leave) waits for its report to reach the directory before it goes on anyway. */
const REPORT_WAIT_MS = 2_000;

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
type Attachment = JoinedAttachment | PendingJoin | null;
/** The pool's model rides in every attachment: after hibernation the object learns its name back from its sockets. */
interface PendingJoin { joinBy: number; pool?: string }
type JoinedAttachment = SessionSnapshot & { pool?: string; joinedAt?: number; prewarmed?: boolean };

/** The session snapshot of a joined socket, or undefined. */
function joinedOf(attachment: Attachment | undefined): JoinedAttachment | undefined {
  return typeof attachment === 'object' && attachment !== null && 'id' in attachment ? attachment : undefined;
}

/** Counters a traffic report turns into rates: what the previous report saw. */
interface ReportMark {
  at: number;
  answered: number;
  rateLimited: number;
  timedOut: number;
  latency: LatencyHistogram | undefined;
  ttft: LatencyHistogram | undefined;
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
  /** The model this pool serves: told by the Worker (session route, RPC requests) or read back from attachments. */
  #pool: string | undefined;
  /** When each session joined this pool (its lease age on the dashboard). */
  readonly #joinedAt = new Map<string, number>();
  /** Sessions that joined marked `prewarmed` (the directory asked them to load this model): shown in the summary. */
  readonly #prewarmed = new Set<string>();
  #reportChain: Promise<void> = Promise.resolve();
  #reportQueued = false;
  #reportTimer: ReturnType<typeof setTimeout> | undefined;
  #lastReportAt = 0;
  #mark: ReportMark | undefined;

  /** Learns the pool's model; a pool object serves one model. */
  #setPool(model: string | undefined | null): void {
    if (model && this.#pool === undefined) this.#pool = model;
  }

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
      if (typeof attachment === 'object' && attachment !== null && 'joinBy' in attachment) {
        this.#pendingJoins.set(ws, attachment.joinBy);
        this.#setPool(attachment.pool);
      }
      const snap = joinedOf(attachment);
      if (!snap) continue;
      this.#setPool(snap.pool);
      this.#sockets.set(snap.id, ws);
      this.#joinedAt.set(snap.id, snap.joinedAt ?? now);
      if (snap.prewarmed) this.#prewarmed.add(snap.id);
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
    this.#setPool(request.headers.get(POOL_HEADER));
    if (this.#pool === undefined) return errorResponse(400, 'bad-request', 'a pool socket needs its model: GET /v1/sessions?model=<name>');
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const joinBy = Date.now() + JOIN_TIMEOUT_MS;
    server.serializeAttachment({ joinBy, pool: this.#pool } satisfies PendingJoin);
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
    this.#setPool(request.model);
    const answer = new Promise<InferenceResponse>((resolve) => this.#waiting.set(request.id, resolve));
    if (trace) this.#traces.set(request.id, { submitted: Date.now() });
    this.#run(c.submit(request, Date.now()));
    this.#traffic();
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
    this.#setPool(request.model);
    const id = request.id;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#streams.set(id, { controller, ...(trace ? { trace: { submitted: Date.now() } } : {}) });
      },
      cancel: () => this.#cancelStream(id),
    });
    this.#run(c.submitGeneration(request, Date.now()));
    this.#traffic();
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

  /** RPC: the summary this pool would report to the directory now (tests, debugging). */
  async poolSummary(): Promise<PoolSummary | undefined> {
    this.#get();
    return this.#summary(Date.now(), false);
  }

  /** Sessions as the coordinator sees them (ids, models, load): for tests and status pages. */
  async sessionList(): Promise<ReturnType<Coordinator['sessions']>> {
    return this.#get().sessions();
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const c = this.#get();
    const now = Date.now();
    const attachment = ws.deserializeAttachment() as Attachment;
    // Null: this socket was refused, replaced or closed by the pool; what it still sends (a `leave` racing the refusal) has nowhere to go.
    if (attachment === null) return;
    const joined = joinedOf(attachment);
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
      const pool = this.#pool;
      // A pool serves one model: the join carries that model's offer only (the session client sends one socket per model).
      const models = msg.models.filter((m) => m.name === pool);
      if (pool === undefined || models.length === 0) {
        ws.send(encodeMessage({ type: 'error', error: toErrorData(new TesseraError('invalid-argument', `this socket is the pool of model "${pool ?? '?'}" and the join offers ${msg.models.map((m) => `"${m.name}"`).join(', ') || 'no model'}; open one socket per model (GET /v1/sessions?model=<name>) with that model's offer`)) }));
        ws.serializeAttachment(null);
        ws.close(1008, 'join offers another model');
        return;
      }
      const old = msg.sessionId ? this.#socketOf(msg.sessionId) : undefined;
      const { sessionId, actions } = c.join({ ...msg, models }, now);
      if (old && old !== ws) {
        old.serializeAttachment(null);
        old.close(CLOSE_REPLACED, 'replaced by a newer connection');
      }
      this.#sockets.set(sessionId, ws);
      if (!old || old === ws || !this.#joinedAt.has(sessionId)) this.#joinedAt.set(sessionId, now);
      if (msg.prewarmed) this.#prewarmed.add(sessionId);
      else this.#prewarmed.delete(sessionId);
      this.#attach(ws, sessionId);
      this.#attachedAt.set(sessionId, now);
      // The directory hears of the session before the session hears `joined`:
      // whoever the session tells it is serving finds the model listed.
      const joinedFrame = actions.filter((a) => a.type === 'send' && a.message.type === 'joined');
      this.#run(actions.filter((a) => !joinedFrame.includes(a)));
      await this.#reportBounded();
      this.#run(joinedFrame);
      return;
    }
    const message = msg.type === 'models' ? { ...msg, models: msg.models.filter((m) => m.name === this.#pool) } : msg;
    this.#run(c.handle(joined.id, message, now));
    if (msg.type === 'models' || now - (this.#attachedAt.get(joined.id) ?? 0) >= ATTACHMENT_REFRESH_MS) {
      this.#attach(ws, joined.id);
      this.#attachedAt.set(joined.id, now);
    }
    if (msg.type === 'models' || msg.type === 'leave') void this.#reportNow();
    else if (msg.type !== 'heartbeat') this.#traffic();
  }

  /** Writes a joined socket's attachment: the session's snapshot, the pool's model and when it joined. */
  #attach(ws: WebSocket, sessionId: string): void {
    const snap = this.#get().snapshotSession(sessionId);
    if (!snap) return;
    ws.serializeAttachment({ ...snap, ...(this.#pool !== undefined ? { pool: this.#pool } : {}), joinedAt: this.#joinedAt.get(sessionId) ?? Date.now(), ...(this.#prewarmed.has(sessionId) ? { prewarmed: true } : {}) } satisfies JoinedAttachment);
  }

  /** A join's or leave's report, bounded: a slow or failing directory delays `joined` (or a close) by at most REPORT_WAIT_MS. */
  async #reportBounded(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, REPORT_WAIT_MS)));
    await Promise.race([this.#reportNow(), gaveUp]);
    clearTimeout(timer);
  }

  /**
   * Reports this pool's summary to the directory, after any report already
   * on its way (so they arrive in order; one queued report is shared by
   * everyone who asks meanwhile). Never throws: a directory that is down
   * costs the dashboard a stale line, never a request.
   */
  #reportNow(): Promise<void> {
    if (this.#reportQueued) return this.#reportChain;
    this.#reportQueued = true;
    this.#reportChain = this.#reportChain.then(async () => {
      this.#reportQueued = false;
      const now = Date.now();
      this.#lastReportAt = now;
      const summary = this.#summary(now, true);
      if (!summary) return;
      try {
        await this.env.DIRECTORY.get(this.env.DIRECTORY.idFromName(DIRECTORY_NAME)).report(summary);
      } catch (err) {
        console.error(`pool ${summary.pool}: report to the directory failed`, err);
      }
      // Rates are over the last window: while anything moves, report again
      // after the next one, so the directory sees the pool settle to zero.
      if (summary.requestsPerSecond > 0 || summary.rateLimitedPerSecond > 0 || summary.queueDepth > 0 || summary.sessions.some((x) => x.inFlight > 0)) this.#traffic();
    });
    this.ctx.waitUntil(this.#reportChain);
    return this.#reportChain;
  }

  /** Traffic moved: a trailing report at most once per REPORT_INTERVAL_MS (one timer check on the hot path). */
  #traffic(): void {
    if (this.#reportTimer !== undefined || this.#reportQueued) return;
    const wait = Math.max(0, this.#lastReportAt + REPORT_INTERVAL_MS - Date.now());
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = undefined;
      void this.#reportNow();
    }, wait);
  }

  /**
   * The pool's state for the directory. With `advance`, the rates are over
   * the window since the previous report, and that report's mark moves on.
   */
  #summary(now: number, advance: boolean): PoolSummary | undefined {
    const pool = this.#pool;
    if (pool === undefined) return undefined;
    const c = this.#get();
    const metrics = c.metrics();
    const infos = c.sessions();
    const sessions = infos.map((info) => ({
      id: info.id, device: info.device, models: info.models, inFlight: info.inFlight,
      throughput: Math.round(info.rate * 1000) / 1000, leaseAgeMs: now - (this.#joinedAt.get(info.id) ?? now),
      ...(this.#prewarmed.has(info.id) ? { prewarmed: true } : {}),
    }));
    const first = infos[0];
    const offer = first ? c.snapshotSession(first.id)?.models.find((m) => m.name === pool) : undefined;
    const mark = markOf(metrics, pool, now);
    const prev = this.#mark;
    if (advance) this.#mark = mark;
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 0;
    const per = (n: number, before: number | undefined): number => (prev && seconds > 0 ? Math.round(((n - (before ?? 0)) / seconds) * 1000) / 1000 : 0);
    const latency = quantilesMs(mark.latency, prev?.latency);
    const ttft = quantilesMs(mark.ttft, prev?.ttft);
    const queueDepth = metrics.queueDepth.reduce((n, q) => n + q.depth, 0);
    const requestsPerSecond = per(mark.answered, prev?.answered);
    // Little's law: what waits now, over how fast the pool answers; with nothing answered, at least the whole window.
    const queueWaitMs = queueDepth === 0 ? 0 : requestsPerSecond > 0 ? Math.round((1000 * queueDepth) / requestsPerSecond) : Math.round(seconds * 1000);
    return {
      pool, model: pool, at: now, sessions,
      ...(offer ? { offer, revision: offer.revision } : {}),
      queueDepth,
      queueWaitMs,
      requestsPerSecond,
      rateLimitedPerSecond: per(mark.rateLimited, prev?.rateLimited),
      deadlineMissesPerSecond: per(mark.timedOut, prev?.timedOut),
      ...(latency ? { latencyP50Ms: latency.p50, latencyP99Ms: latency.p99 } : {}),
      ...(ttft ? { ttftP50Ms: ttft.p50, ttftP99Ms: ttft.p99 } : {}),
      metrics,
    };
  }

  override async webSocketClose(ws: WebSocket, code?: number, reason?: string): Promise<void> {
    this.#pendingJoins.delete(ws);
    const snap = joinedOf(ws.deserializeAttachment() as Attachment);
    if (snap) {
      const c = this.#get();
      // Only the socket that holds the id: a replaced one has a null attachment already.
      if (this.#sockets.get(snap.id) === ws) this.#sockets.delete(snap.id);
      this.#attachedAt.delete(snap.id);
      this.#run(c.disconnect(snap.id, Date.now()));
      if (!this.#sockets.has(snap.id)) {
        this.#joinedAt.delete(snap.id);
        this.#prewarmed.delete(snap.id);
      }
      // The directory hears of the departure before the session's close()
      // resolves: a session that has left is no longer listed.
      await this.#reportBounded();
    }
    // Complete the closing handshake: without the reply the peer's close()
    // waits out its own timeout (10 s in Node's WebSocket) before it can
    // reconnect. 1005/1006 are reserved and cannot be sent back.
    try {
      ws.close(code === undefined || code === 1005 || code === 1006 ? 1000 : code, reason ?? '');
    } catch {
      // Already closed (the runtime replied itself).
    }
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
          this.#joinedAt.delete(a.sessionId);
          this.#prewarmed.delete(a.sessionId);
          ws?.serializeAttachment(null);
          ws?.close(a.code, a.reason);
          // A lease expired: the directory must not keep listing the session.
          void this.#reportNow();
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

/** The counters a report's rates are computed from, for this pool's model. */
function markOf(m: MetricsSnapshot, model: string, at: number): ReportMark {
  let answered = 0;
  let rateLimited = 0;
  let timedOut = 0;
  for (const r of m.requests) {
    if (r.model !== model) continue;
    answered += r.count;
    if (r.status === 'rate-limited') rateLimited += r.count;
    else if (r.status === 'timeout') timedOut += r.count;
  }
  return { at, answered, rateLimited, timedOut, latency: m.latency.find((h) => h.model === model), ttft: m.timeToFirstToken.find((h) => h.model === model) };
}

/**
 * p50 and p99 (ms) of the observations between two cumulative histograms, at
 * bucket resolution (the upper bound of the bucket the quantile falls in);
 * undefined when nothing was observed in between.
 */
function quantilesMs(now: LatencyHistogram | undefined, before: LatencyHistogram | undefined): { p50: number; p99: number } | undefined {
  if (!now) return undefined;
  const total = now.count - (before?.count ?? 0);
  if (total <= 0) return undefined;
  const at = (q: number): number => {
    const want = q * total;
    for (let i = 0; i < now.buckets.length; i++) {
      const b = now.buckets[i]!;
      if (b.count - (before?.buckets[i]?.count ?? 0) >= want) return b.le * 1000;
    }
    // Past the last bound: the mean of the window is the best figure left.
    return Math.round(((now.sumSeconds - (before?.sumSeconds ?? 0)) / total) * 1000);
  };
  return { p50: at(0.5), p99: at(0.99) };
}
