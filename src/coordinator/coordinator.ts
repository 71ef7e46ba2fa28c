/**
 * The coordinator's state machine: sessions with leases, a bounded queue per
 * model, dynamic batching, load-aware routing, re-dispatch on failure.
 *
 * Pure: no timers, no sockets, no clock. Every method takes `now` and returns
 * the actions the host must perform; `tick(now)` drives expiry and
 * `nextWakeAt()` says when the host should call it next (a DO alarm).
 *
 * The invariant the tests hammer: every submitted request gets exactly one
 * `respond` action — a result, or an error saying why (`rate-limited`,
 * `timeout`, `unavailable`, or the session's own error).
 */
import { TesseraError, toErrorData, type ErrorCode } from '../errors.ts';
import { CLOSE_LEASE_EXPIRED, type JoinMessage, type ModelOffer, type SessionCapacity, type SessionMessage } from '../protocol/coordinator-messages.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import type { CoordinatorAction, GenerationRequest, InferenceRequest, InferenceResponse } from './actions.ts';
import { batchRows, batchSignature, batchTensors, splitBatch } from './batch-tensors.ts';
import { resolveConfig, type CoordinatorConfig } from './config.ts';
import { GenerationPool } from './generation-pool.ts';
import { MetricsRecorder, type MetricsSnapshot } from './metrics.ts';
import { initialRate, rateOf, recordCompletions, recordSteadyCompletions, type RateState } from './rate-estimator.ts';
import { pickSession } from './routing-policy.ts';
import { admit, deadlineRefusal, queueFullRefusal, shouldShed, type PoolLoad } from './admission.ts';

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

interface Pending {
  id: string;
  model: string;
  inputs: TensorMap;
  /** undefined: cannot share a batch. */
  signature: string | undefined;
  rows: number;
  deadline: number;
  submittedAt: number;
  enqueuedAt: number;
  /** Times dispatched; a second session failure is final. */
  attempts: number;
  /** Set once a session was lost with it in flight: it runs alone from then on (it may be the poison). */
  suspect: boolean;
  done: boolean;
}

interface Batch {
  key: string;
  model: string;
  requests: Pending[];
  batchSizes: number[];
  sentAt: number;
}

interface Session {
  id: string;
  order: number;
  device: string;
  models: Map<string, ModelOffer>;
  capacity: SessionCapacity;
  rate: RateState;
  /** The same completions decayed over admissionWindowMs: the steadier rate admission and shedding use. */
  steady: RateState;
  leaseUntil: number;
  /** Requests in flight (rows of open batches). */
  inFlight: number;
  batches: Map<string, Batch>;
  /** Start of the busy interval the next completion is measured against. */
  busyMark: number;
}

/** What a Durable Object keeps per socket (serializeAttachment) to rebuild a session after hibernation. */
export interface SessionSnapshot {
  id: string;
  order: number;
  device: string;
  models: ModelOffer[];
  capacity: SessionCapacity;
  rate: RateState;
  /** Absent in snapshots written before it existed: restored from `rate`. */
  steady?: RateState;
  leaseUntil: number;
}

export interface CoordinatorOptions {
  config?: Partial<CoordinatorConfig>;
  /** For power-of-two choices; default Math.random. */
  random?: () => number;
  /** New session ids; default crypto.randomUUID. */
  createId?: () => string;
}

/**
 * @example
 * const c = new Coordinator({ config: { maxBatch: 4 } });
 * const { sessionId, actions } = c.join(joinMessage, Date.now());
 * run(actions);
 * run(c.submit({ id: 'r1', model: 'ocr', inputs }, Date.now()));
 * setAlarm(c.nextWakeAt());
 */
export class Coordinator {
  readonly config: CoordinatorConfig;
  readonly #random: () => number;
  readonly #createId: () => string;
  readonly #sessions = new Map<string, Session>();
  readonly #queues = new Map<string, Pending[]>();
  readonly #requests = new Map<string, Pending>();
  readonly #backoff = new Map<string, { until: number; failures: number }>();
  readonly #cursors = new Map<string, { last: number }>();
  /** Per model with queued work: when a held batch window closes or a backoff ends. */
  readonly #queueWake = new Map<string, number>();
  readonly #metrics = new MetricsRecorder();
  readonly #generations: GenerationPool;
  #order = 0;

  constructor(options: CoordinatorOptions = {}) {
    this.config = resolveConfig(options.config);
    this.#random = options.random ?? Math.random;
    this.#createId = options.createId ?? (() => crypto.randomUUID());
    this.#generations = new GenerationPool(this.config, this.#metrics, {
      candidates: (model, now) => [...this.#sessions.values()]
        .filter((s) => s.models.has(model) && this.#freeSlots(s, now) > 0)
        .map((s) => ({ id: s.id, order: s.order, inFlight: s.inFlight + this.#generations.runningOn(s.id), rate: rateOf(s.rate) })),
      hasModel: (model) => this.#hasModel(model),
      members: (model, now) => [...this.#sessions.values()].filter((s) => s.models.has(model)).map((s) => ({
        id: s.id, slots: s.capacity.maxInFlight, freeSlots: this.#freeSlots(s, now),
      })),
    }, this.#random);
  }

  /** Slots a session has busy: inference batches plus running generations. */
  #slotsUsed(s: Session): number {
    return s.batches.size + this.#generations.runningOn(s.id);
  }

  // ------------------------------------------------------------ sessions

  /**
   * Admits a session (the host has checked its token). A live session with the
   * same id is replaced: its in-flight work is re-dispatched as after a
   * disconnect, and the host closes the older socket itself (a `close` action
   * here could not say which of the two sockets with this id is meant).
   */
  join(msg: JoinMessage, now: number): { sessionId: string; actions: CoordinatorAction[] } {
    const out: CoordinatorAction[] = [];
    const id = msg.sessionId ?? this.#createId();
    this.#fail(id, now, out);
    this.#add({
      id, order: this.#order++, device: msg.device, models: msg.models, capacity: msg.capacity,
      rate: initialRate(msg.capacity.requestsPerSecond, this.config.rateWindowMs),
      // The declaration's weight is the routing window's, not the admission window's: it is a
      // sample image's rate at start (6x under what the OCR bench then served), to be outweighed soon.
      steady: initialRate(msg.capacity.requestsPerSecond, this.config.rateWindowMs), leaseUntil: now + this.config.leaseMs,
    });
    out.push({ type: 'send', sessionId: id, message: { type: 'joined', sessionId: id, leaseMs: this.config.leaseMs, heartbeatMs: this.config.heartbeatMs } });
    for (const m of msg.models) this.#pump(m.name, now, out);
    return { sessionId: id, actions: out };
  }

  /** Rebuilds a session from its snapshot after the host was hibernated or evicted. Idempotent. */
  restoreSession(snapshot: SessionSnapshot, now: number): CoordinatorAction[] {
    if (!this.#sessions.has(snapshot.id)) {
      this.#add(snapshot);
      this.#order = Math.max(this.#order, snapshot.order + 1);
    }
    const out: CoordinatorAction[] = [];
    for (const m of snapshot.models) this.#pump(m.name, now, out);
    return out;
  }

  /** The session's durable part, for serializeAttachment. */
  snapshotSession(sessionId: string): SessionSnapshot | undefined {
    const s = this.#sessions.get(sessionId);
    if (!s) return undefined;
    return { id: s.id, order: s.order, device: s.device, models: [...s.models.values()], capacity: s.capacity, rate: { ...s.rate }, steady: { ...s.steady }, leaseUntil: s.leaseUntil };
  }

  #add(snap: SessionSnapshot): void {
    this.#sessions.set(snap.id, {
      id: snap.id, order: snap.order, device: snap.device, models: new Map(snap.models.map((m) => [m.name, m])),
      capacity: snap.capacity, rate: { ...snap.rate }, steady: snap.steady ? { ...snap.steady } : initialRate(rateOf(snap.rate), this.config.rateWindowMs),
      leaseUntil: snap.leaseUntil, inFlight: 0, batches: new Map(), busyMark: 0,
    });
  }

  /** A message from a joined session (a `join` here is a protocol error: joins go through join()). */
  handle(sessionId: string, msg: SessionMessage, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const s = this.#sessions.get(sessionId);
    if (!s) {
      out.push({ type: 'close', sessionId, code: CLOSE_LEASE_EXPIRED, reason: 'unknown session: join again' });
      return out;
    }
    s.leaseUntil = now + this.config.leaseMs;
    switch (msg.type) {
      case 'join':
        out.push({ type: 'send', sessionId, message: { type: 'error', error: toErrorData(new TesseraError('bad-request', 'already joined; send "models" to change warm models')) } });
        break;
      case 'heartbeat':
        break;
      case 'models': {
        const before = [...s.models.keys()];
        s.models = new Map(msg.models.map((m) => [m.name, m]));
        for (const name of new Set([...before, ...s.models.keys()])) this.#pump(name, now, out);
        break;
      }
      case 'result':
        this.#complete(s, msg, now, out);
        break;
      case 'error':
        if (msg.requestIds.length === 1 && this.#generations.has(msg.requestIds[0] as string)) this.#generationEnded(s, this.#generations.error(s.id, msg.requestIds[0] as string, msg.error, now), now, out);
        else this.#complete(s, msg, now, out);
        break;
      case 'chunk':
        out.push(...this.#generations.chunk(s.id, msg, now));
        break;
      case 'done':
        this.#generationEnded(s, this.#generations.done(s.id, msg, now), now, out);
        break;
      case 'leave':
        this.#fail(sessionId, now, out);
        break;
      default: {
        const never: never = msg;
        throw new TesseraError('internal', `unhandled message ${JSON.stringify(never)}`);
      }
    }
    return out;
  }

  /** The session's socket closed. Its in-flight work is re-dispatched. */
  disconnect(sessionId: string, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    this.#fail(sessionId, now, out);
    return out;
  }

  #fail(sessionId: string, now: number, out: CoordinatorAction[]): void {
    const s = this.#sessions.get(sessionId);
    if (!s) return;
    this.#sessions.delete(sessionId);
    this.#generations.sessionFailed(sessionId, now, out);
    if (s.batches.size === 0) return;
    const b = this.#backoff.get(sessionId) ?? { until: 0, failures: 0 };
    b.failures += 1;
    b.until = now + Math.min(this.config.backoffMaxMs, this.config.backoffBaseMs * 2 ** (b.failures - 1));
    this.#backoff.set(sessionId, b);
    const retry = new Map<string, Pending[]>();
    for (const batch of s.batches.values()) {
      for (const r of batch.requests) {
        if (r.done) continue;
        if (r.attempts >= 2) {
          this.#respondError(r, 'unavailable', `request failed on two sessions (the last, ${sessionId}, disconnected with it in flight)`, now, out);
        } else {
          r.enqueuedAt = now;
          r.suspect = true;
          retry.set(r.model, [...(retry.get(r.model) ?? []), r]);
        }
      }
    }
    for (const [model, list] of retry) {
      // Re-queued ahead of new work and past the queue limit: they were admitted already.
      this.#metrics.redispatched += list.length;
      this.#queues.set(model, [...list, ...(this.#queues.get(model) ?? [])]);
    }
    for (const model of s.models.keys()) this.#pump(model, now, out);
    for (const model of retry.keys()) this.#pump(model, now, out);
  }

  // ------------------------------------------------------------ requests

  /** Admits a request: queued and dispatched, or answered at once (`rate-limited`, `unavailable`). */
  submit(request: InferenceRequest, now: number): CoordinatorAction[] {
    if (this.#requests.has(request.id)) {
      throw new TesseraError('invalid-argument', `request id ${request.id} is already in progress`);
    }
    const out: CoordinatorAction[] = [];
    const signature = batchSignature(request.inputs);
    const r: Pending = {
      id: request.id, model: request.model, inputs: request.inputs, signature, rows: batchRows(request.inputs),
      deadline: request.deadline ?? now + this.config.requestTimeoutMs, submittedAt: now, enqueuedAt: now, attempts: 0, suspect: false, done: false,
    };
    this.#requests.set(r.id, r);
    if (!this.#hasModel(r.model)) {
      this.#respondError(r, 'unavailable', `no session has model "${r.model}" warm; start one with \`npx tessera serve --coordinator <url> --models ${r.model}\``, now, out);
      return out;
    }
    const queue = this.#queues.get(r.model) ?? [];
    if (this.#refuseByDeadline(r, queue.length, now, out)) return out;
    if (queue.length >= this.config.queueLimit) {
      const retryAfterSeconds = this.retryAfterSeconds(r.model);
      this.#respond(r, {
        type: 'error', retryAfterSeconds,
        error: toErrorData(queueFullRefusal(r.model, queue.length, retryAfterSeconds)),
      }, now, 'rate-limited', out);
      return out;
    }
    queue.push(r);
    this.#queues.set(r.model, queue);
    this.#pump(r.model, now, out);
    return out;
  }

  /** The client went away (HTTP request aborted): answered `aborted` so the host can release it. */
  cancel(requestId: string, now: number): CoordinatorAction[] {
    // A generation is cancelled the same way: out of its queue, or a cancel frame to its session.
    if (this.#generations.has(requestId)) return this.#generations.cancel(requestId, now);
    const out: CoordinatorAction[] = [];
    const r = this.#requests.get(requestId);
    if (!r || r.done) return out;
    this.#unqueue(r);
    this.#respondError(r, 'aborted', 'the client cancelled the request', now, out);
    this.#cancelRunning(r, out);
    return out;
  }

  /**
   * A cancelled request that is running: when nobody else waits on its batch,
   * the session is told to stop it. The batch keeps its slot until the
   * session answers (it may still be computing; the slot is freed when it
   * says so, or by tick() if it never does).
   */
  #cancelRunning(r: Pending, out: CoordinatorAction[]): void {
    for (const s of this.#sessions.values()) {
      for (const batch of s.batches.values()) {
        if (!batch.requests.includes(r)) continue;
        if (batch.requests.every((q) => q.done)) {
          out.push({ type: 'send', sessionId: s.id, message: { type: 'cancel', requestIds: batch.requests.map((q) => q.id) } });
        }
        return;
      }
    }
  }

  /** The rate admission and shedding count on for a session: its steady measured rate (declared, until measured). */
  #admissionRateOf(s: Session): number {
    return rateOf(s.steady);
  }

  /**
   * Slots of `s` a request could take now: none while it is backed off
   * (pump() will not use it yet), and those that neither batches nor running
   * generations hold. Inference admission, generation admission and the
   * generation pool's candidates all count with this.
   */
  #freeSlots(s: Session, now: number): number {
    if ((this.#backoff.get(s.id)?.until ?? 0) > now) return 0;
    return Math.max(0, s.capacity.maxInFlight - this.#slotsUsed(s));
  }

  /** What the pool can do for a model right now: summed admission rates and free slots. */
  #loadOf(model: string, now: number): PoolLoad {
    let rate = 0;
    let sessions = 0;
    let freeSlots = 0;
    for (const s of this.#sessions.values()) {
      if (!s.models.has(model)) continue;
      sessions += 1;
      rate += this.#admissionRateOf(s);
      freeSlots += this.#freeSlots(s, now);
    }
    return { rate, sessions, freeSlots };
  }

  /**
   * Admission by deadline (admission.ts): a request that the pool cannot
   * answer before its deadline gets `rate-limited` now, with a Retry-After
   * from the same estimate, rather than a `timeout` when the deadline passes.
   */
  #refuseByDeadline(r: Pending, ahead: number, now: number, out: CoordinatorAction[]): boolean {
    const load = this.#loadOf(r.model, now);
    const budgetMs = r.deadline - now;
    const verdict = admit(load, ahead, budgetMs, this.config.admissionHeadroom);
    if (verdict.admit) return false;
    const error = deadlineRefusal({ model: r.model, load, ahead, budgetMs, verdict, awaits: 'answer' });
    this.#respond(r, { type: 'error', retryAfterSeconds: verdict.retryAfterSeconds, error: toErrorData(error) }, now, 'rate-limited', out);
    return true;
  }

  /**
   * Queued requests the measured rates now say cannot finish by their
   * deadline are answered `rate-limited` before they wait it out (admission
   * used the rates known when they arrived).
   */
  #shedHopeless(model: string, queue: Pending[], now: number, out: CoordinatorAction[]): void {
    if (queue.length === 0) return;
    const load = this.#loadOf(model, now);
    let ahead = 0;
    for (const r of [...queue]) {
      // Re-dispatched work was admitted and already ran once: it keeps its place.
      if (r.attempts === 0 && shouldShed(load, ahead, r.deadline - now)) {
        this.#unqueue(r);
        const retryAfterSeconds = Math.max(1, Math.ceil(this.retryAfterSeconds(model)));
        this.#respond(r, {
          type: 'error', retryAfterSeconds,
          error: toErrorData(new TesseraError('rate-limited', `model "${model}" cannot answer before the deadline at its measured rate (${ahead} requests ahead); retry in ${retryAfterSeconds} s`, { details: { retryAfterSeconds, queued: ahead, reason: 'measured-rate', waitedMs: now - r.submittedAt, ratePerSecond: round3(load.rate) } })),
        }, now, 'rate-limited', out);
        continue;
      }
      ahead += 1;
    }
  }

  /**
   * Seconds until a queue slot likely frees: the work ahead (queued and in
   * flight) over the pool's admission rate, at least 1.
   */
  retryAfterSeconds(model: string): number {
    let rate = 0;
    let inFlight = 0;
    for (const s of this.#sessions.values()) {
      if (!s.models.has(model)) continue;
      rate += this.#admissionRateOf(s);
      for (const b of s.batches.values()) if (b.model === model) inFlight += b.requests.length;
    }
    const depth = (this.#queues.get(model)?.length ?? 0) + inFlight;
    if (rate <= 0) return Math.ceil(this.config.requestTimeoutMs / 1000);
    return Math.max(1, Math.ceil(depth / rate));
  }

  #complete(s: Session, msg: Extract<SessionMessage, { type: 'result' | 'error' }>, now: number, out: CoordinatorAction[]): void {
    const key = msg.requestIds[0] as string;
    const batch = s.batches.get(key);
    if (!batch || batch.requests.length !== msg.requestIds.length || batch.requests.some((r, i) => r.id !== msg.requestIds[i])) {
      out.push({ type: 'send', sessionId: s.id, message: { type: 'error', error: toErrorData(new TesseraError('bad-request', `no batch in flight with request ids [${msg.requestIds.join(', ')}]`)) } });
      return;
    }
    s.batches.delete(key);
    s.inFlight -= batch.requests.length;
    // A batch everyone stopped waiting for (cancelled) ended early: its time says nothing about the session's rate.
    const cutShort = msg.type === 'error' && batch.requests.every((r) => r.done);
    if (!cutShort) {
      s.rate = recordCompletions(s.rate, batch.requests.length, now - s.busyMark, this.config.rateWindowMs);
      s.steady = recordSteadyCompletions(s.steady, batch.requests.length, now - s.busyMark, this.config.admissionWindowMs);
    }
    s.busyMark = now;
    if (msg.type === 'result') {
      this.#backoff.delete(s.id);
      if (msg.computeMs !== undefined) this.#metrics.batchCompute(batch.model, msg.computeMs / 1000);
      let parts: TensorMap[];
      try {
        parts = splitBatch(msg.outputs, batch.batchSizes);
      } catch (err) {
        for (const r of batch.requests) if (!r.done) this.#respond(r, { type: 'error', error: toErrorData(err) }, now, 'backend-error', out);
        parts = [];
      }
      batch.requests.forEach((r, i) => {
        const outputs = parts[i];
        if (!r.done && outputs) this.#respond(r, { type: 'result', outputs, sessionId: s.id, ...(msg.computeMs !== undefined ? { computeMs: msg.computeMs } : {}) }, now, 'ok', out);
      });
    } else {
      for (const r of batch.requests) if (!r.done) this.#respond(r, { type: 'error', error: msg.error }, now, msg.error.code, out);
    }
    this.#pump(batch.model, now, out);
  }

  // ------------------------------------------------------------ time

  /** Expires leases and deadlines, flushes batching windows, ends backoffs. */
  tick(now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    for (const s of [...this.#sessions.values()]) {
      if (s.leaseUntil <= now) {
        out.push({ type: 'close', sessionId: s.id, code: CLOSE_LEASE_EXPIRED, reason: `no heartbeat for ${this.config.leaseMs} ms` });
        this.#fail(s.id, now, out);
      }
    }
    for (const s of this.#sessions.values()) {
      for (const [key, batch] of s.batches) {
        const expired = batch.requests.filter((r) => !r.done && r.deadline <= now);
        for (const r of expired) this.#respondError(r, 'timeout', `no result from session ${s.id} before the deadline`, now, out);
        if (expired.length > 0) out.push({ type: 'send', sessionId: s.id, message: { type: 'cancel', requestIds: expired.map((r) => r.id) } });
        // A session that never answers a timed-out batch would hold the slot forever.
        if (batch.requests.every((r) => r.done) && now - batch.sentAt > this.config.requestTimeoutMs + this.config.leaseMs) {
          s.batches.delete(key);
          s.inFlight -= batch.requests.length;
        }
      }
    }
    for (const [id, b] of this.#backoff) if (b.until + this.config.backoffMaxMs * 4 < now) this.#backoff.delete(id);
    // Generations first: a stalled one frees a slot the queued batches below may take.
    this.#generations.tick(now, out);
    for (const model of [...this.#queues.keys()]) this.#pump(model, now, out);
    return out;
  }

  /** When tick() next has something to do, or undefined when nothing is pending. */
  nextWakeAt(): number | undefined {
    let at = Infinity;
    for (const s of this.#sessions.values()) {
      at = Math.min(at, s.leaseUntil);
      for (const b of s.batches.values()) for (const r of b.requests) if (!r.done) at = Math.min(at, r.deadline);
    }
    for (const queue of this.#queues.values()) for (const r of queue) at = Math.min(at, r.deadline);
    for (const t of this.#queueWake.values()) at = Math.min(at, t);
    at = Math.min(at, this.#generations.nextWakeAt());
    return at === Infinity ? undefined : at;
  }

  // ------------------------------------------------------------ dispatch

  #hasModel(model: string): boolean {
    for (const s of this.#sessions.values()) if (s.models.has(model)) return true;
    return false;
  }

  #pump(model: string, now: number, out: CoordinatorAction[]): void {
    // Generations of this model first: every path that may free a slot or add a session pumps here.
    this.#generations.pump(model, now, out);
    const queue = this.#queues.get(model);
    if (!queue) return;
    for (const r of queue.filter((q) => q.deadline <= now)) {
      this.#unqueue(r);
      this.#respondError(r, 'timeout', `waited ${now - r.enqueuedAt} ms in the queue for model "${model}" without a free session`, now, out);
    }
    if (!this.#hasModel(model)) {
      for (const r of [...queue]) {
        this.#unqueue(r);
        this.#respondError(r, 'unavailable', `the last session with model "${model}" left`, now, out);
      }
    }
    let wake = Infinity;
    const blind = this.config.policy === 'blind-round-robin';
    // earliest-completion also weighs sessions with no free slot: a request it
    // leaves waiting for one (at queue position < `at`) counts on that
    // session's load for the requests behind it.
    const latencyAware = this.config.policy === 'earliest-completion';
    const waitingFor = new Map<string, number>();
    let at = 0;
    while (at < queue.length) {
      const candidates = [...this.#sessions.values()]
        .filter((s) => s.models.has(model) && (this.#slotsUsed(s) < s.capacity.maxInFlight || blind || (latencyAware && this.#overdueAt(s) > now)) && (this.#backoff.get(s.id)?.until ?? 0) <= now)
        .map((s) => ({
          id: s.id, order: s.order, inFlight: s.inFlight + (waitingFor.get(s.id) ?? 0), rate: rateOf(s.rate), session: s,
          ...(latencyAware && this.#slotsUsed(s) >= s.capacity.maxInFlight ? { full: true } : {}),
        }));
      if (latencyAware && candidates.length > 0 && candidates.every((c) => c.full)) {
        // Nothing can be sent until a slot frees: placing each queued request on
        // a busy session would only walk the whole queue (on every submit and
        // completion of a burst) to the same outcome. Look again when the
        // earliest of them is overdue.
        for (const c of candidates) wake = Math.min(wake, this.#overdueAt(c.session));
        break;
      }
      const cursor = this.#cursors.get(model) ?? { last: -1 };
      this.#cursors.set(model, cursor);
      const chosen = pickSession(this.config.policy, candidates, cursor, this.#random);
      if (!chosen) break;
      const head = queue[at] as Pending;
      if (chosen.full) {
        // A busy session finishes it first: it waits for that one's slot, and the next request is placed.
        waitingFor.set(chosen.id, (waitingFor.get(chosen.id) ?? 0) + head.rows);
        // Placed again then, should that session stall rather than answer.
        wake = Math.min(wake, this.#overdueAt(chosen.session));
        at += 1;
        continue;
      }
      const s = chosen.session;
      const limit = Math.min(this.config.maxBatch, (s.models.get(model) as ModelOffer).maxBatch);
      const batch = [head];
      let rows = head.rows;
      // A suspect (in flight on a session that was lost) runs alone, so it can cost at most itself.
      if (head.signature !== undefined && limit > 1 && !head.suspect) {
        for (let i = at + 1; i < queue.length && rows < limit; i++) {
          const r = queue[i] as Pending;
          if (r.signature === head.signature && !r.suspect && rows + r.rows <= limit) {
            batch.push(r);
            rows += r.rows;
          }
        }
        // Continuous batching: hold a part-full batch for company (until the
        // head has waited maxDelayMs) only when the chosen session is busy
        // anyway, so the wait costs nothing; an idle session gets it at once,
        // or a lone request would pay the whole window at low load. A
        // re-dispatched head goes at once (it has waited enough).
        if (rows < limit && s.inFlight > 0 && head.attempts === 0 && now < head.enqueuedAt + this.config.maxDelayMs) {
          wake = head.enqueuedAt + this.config.maxDelayMs;
          break;
        }
      }
      for (const r of batch) this.#unqueue(r);
      this.#dispatch(s, model, batch, now, out);
    }
    this.#shedHopeless(model, queue, now, out);
    if (queue.length === 0) {
      this.#queues.delete(model);
      this.#queueWake.delete(model);
      return;
    }
    // Work is waiting: wake when a backed-off session with the model may take it.
    for (const s of this.#sessions.values()) {
      const until = this.#backoff.get(s.id)?.until ?? 0;
      if (until > now && s.models.has(model)) wake = Math.min(wake, until);
    }
    if (wake === Infinity) this.#queueWake.delete(model);
    else this.#queueWake.set(model, wake);
  }

  /**
   * When a session with no free slot stops counting as one worth waiting
   * for (earliest-completion): its oldest batch has taken twice what its
   * measured rate gives for all it has in flight. A stuck session would
   * otherwise hold requests that a slower one could answer. A pure function
   * of the session's state, so pump() can also wake at that time.
   */
  #overdueAt(s: Session): number {
    let oldest = Infinity;
    for (const b of s.batches.values()) oldest = Math.min(oldest, b.sentAt);
    // Full with no batch: generations hold its slots, for as long as they stream; not worth waiting for.
    if (oldest === Infinity) return -Infinity;
    return oldest + (2000 * Math.max(1, s.inFlight)) / rateOf(s.rate);
  }

  #dispatch(s: Session, model: string, requests: Pending[], now: number, out: CoordinatorAction[]): void {
    const { inputs, batchSizes } = batchTensors(requests.map((r) => r.inputs));
    const key = (requests[0] as Pending).id;
    if (s.batches.size === 0) s.busyMark = now;
    s.batches.set(key, { key, model, requests, batchSizes, sentAt: now });
    s.inFlight += requests.length;
    for (const r of requests) r.attempts += 1;
    // The time the batch's earliest deadline leaves, so the session can bound its compute (optional on the wire).
    const deadlineMs = Math.max(1, Math.min(...requests.map((r) => r.deadline)) - now);
    out.push({ type: 'send', sessionId: s.id, message: { type: 'infer', requestIds: requests.map((r) => r.id), model, inputs, batchSizes, deadlineMs } });
  }

  #unqueue(r: Pending): void {
    const queue = this.#queues.get(r.model);
    const i = queue?.indexOf(r) ?? -1;
    if (queue && i >= 0) queue.splice(i, 1);
  }

  #respondError(r: Pending, code: ErrorCode, message: string, now: number, out: CoordinatorAction[]): void {
    this.#respond(r, { type: 'error', error: toErrorData(new TesseraError(code, message, { details: { requestId: r.id, model: r.model } })) }, now, code, out);
  }

  #respond(r: Pending, response: InferenceResponse, now: number, status: string, out: CoordinatorAction[]): void {
    if (r.done) return;
    r.done = true;
    this.#requests.delete(r.id);
    this.#metrics.response(r.model, status, status === 'ok' ? (now - r.submittedAt) / 1000 : undefined);
    out.push({ type: 'respond', requestId: r.id, response });
  }

  // ------------------------------------------------------------ text generation

  /**
   * Admits a text-generation request (see generation-pool.ts): queued and
   * dispatched to one session, or answered at once (`rate-limited`,
   * `unavailable`). Its events arrive as `stream` actions; cancel() stops it.
   */
  submitGeneration(request: GenerationRequest, now: number): CoordinatorAction[] {
    if (this.#requests.has(request.id) || this.#generations.has(request.id)) {
      throw new TesseraError('invalid-argument', `request id ${request.id} is already in progress`);
    }
    return this.#generations.submit(request, now);
  }

  /** A generation ended and freed a slot of `s`: queued work of any of its models may go there now. */
  #generationEnded(s: Session, actions: CoordinatorAction[], now: number, out: CoordinatorAction[]): void {
    out.push(...actions);
    for (const model of s.models.keys()) this.#pump(model, now, out);
  }

  // ------------------------------------------------------------ metrics

  /** Counts for /metrics. */
  metrics(): MetricsSnapshot {
    const generating = this.#generations.counts();
    const byModel = new Map<string, number>();
    const inFlight = new Map<string, number>();
    for (const s of this.#sessions.values()) {
      for (const m of s.models.keys()) byModel.set(m, (byModel.get(m) ?? 0) + 1);
      for (const b of s.batches.values()) {
        const live = b.requests.filter((r) => !r.done).length;
        inFlight.set(b.model, (inFlight.get(b.model) ?? 0) + live);
      }
    }
    return {
      sessions: this.#sessions.size,
      sessionsByModel: [...byModel].map(([model, count]) => ({ model, count })),
      requests: this.#metrics.requests(),
      queueDepth: [...[...this.#queues].map(([model, q]) => ({ model, depth: q.length })), ...generating.queued],
      inFlight: [...[...inFlight].map(([model, count]) => ({ model, count })), ...generating.running],
      redispatched: this.#metrics.redispatched,
      latency: this.#metrics.latency(),
      compute: this.#metrics.compute(),
      timeToFirstToken: this.#metrics.ttft(),
      generatedTokens: this.#metrics.tokens(),
    };
  }

  /** Sessions' ids and measured rates, for tests and the status page. */
  sessions(): { id: string; device: string; models: string[]; inFlight: number; rate: number; backedOffUntil?: number }[] {
    return [...this.#sessions.values()].map((s) => {
      const b = this.#backoff.get(s.id);
      return { id: s.id, device: s.device, models: [...s.models.keys()], inFlight: s.inFlight + this.#generations.runningOn(s.id), rate: rateOf(s.rate), ...(b ? { backedOffUntil: b.until } : {}) };
    });
  }
}
