/**
 * Text-generation requests inside the coordinator: a queue per model, one
 * request per dispatch (a generation holds its session slot for many
 * steps, and the sessions' engines do not batch across requests), streamed
 * chunks passed straight through, and the rules that keep a stream honest:
 *
 * - a request that has not streamed anything yet is re-dispatched when its
 *   session dies (once: a second failure is final), like an inference batch;
 * - a request that has streamed chunks is never re-dispatched (the caller has
 *   part of an answer another run would not continue): it ends with an error;
 * - the deadline covers the wait for the first token; after it, a session
 *   that sends nothing for `requestTimeoutMs` is taken as stalled.
 *
 * Pure like the Coordinator, which owns the sessions and hands this pool a
 * narrow view of them ({@link GenerationHost}).
 */
import { TesseraError, toErrorData, type ErrorCode, type ErrorData } from '../errors.ts';
import type { ChunkMessage, DoneMessage } from '../protocol/coordinator-messages.ts';
import type { CoordinatorAction, GenerationEvent, GenerationRequest } from './actions.ts';
import type { CoordinatorConfig } from './config.ts';
import type { MetricsRecorder } from './metrics.ts';
import { pickSession, type Candidate } from './routing-policy.ts';

interface Generation {
  id: string;
  model: string;
  request: GenerationRequest['request'];
  deadline: number;
  submittedAt: number;
  enqueuedAt: number;
  attempts: number;
  sessionId: string | undefined;
  chunks: number;
  /** After the first chunk: when the session counts as stalled. */
  idleUntil: number;
}

/** What the pool needs to know about the Coordinator's sessions. */
export interface GenerationHost {
  /** Sessions with the model warm, a free slot and no backoff, in join order. */
  candidates(model: string, now: number): Candidate[];
  hasModel(model: string): boolean;
  /** Slots (maxInFlight) summed over the sessions with the model: for Retry-After. */
  slots(model: string): number;
}

/** Mean generation time assumed for Retry-After before one has been measured. */
const DEFAULT_GENERATION_S = 2;

/**
 * @example
 * const pool = new GenerationPool(config, metrics, host, Math.random);
 * run(pool.submit({ id: 'g1', model: 'llama', request: { prompt: 'Hi' } }, Date.now()));
 */
export class GenerationPool {
  readonly #queues = new Map<string, Generation[]>();
  readonly #live = new Map<string, Generation>();
  readonly #bySession = new Map<string, Set<string>>();
  readonly #cursors = new Map<string, { last: number }>();
  /** EWMA of whole-generation seconds per model. */
  readonly #seconds = new Map<string, number>();

  readonly config: CoordinatorConfig;
  readonly metrics: MetricsRecorder;
  readonly host: GenerationHost;
  readonly random: () => number;

  constructor(config: CoordinatorConfig, metrics: MetricsRecorder, host: GenerationHost, random: () => number) {
    this.config = config;
    this.metrics = metrics;
    this.host = host;
    this.random = random;
  }

  /** Whether this id is a live generation (queued or running). */
  has(requestId: string): boolean {
    return this.#live.has(requestId);
  }

  /** Generations running on a session: they occupy its slots like batches. */
  runningOn(sessionId: string): number {
    return this.#bySession.get(sessionId)?.size ?? 0;
  }

  submit(request: GenerationRequest, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const g: Generation = {
      id: request.id, model: request.model, request: request.request, deadline: request.deadline ?? now + this.config.requestTimeoutMs,
      submittedAt: now, enqueuedAt: now, attempts: 0, sessionId: undefined, chunks: 0, idleUntil: Infinity,
    };
    this.#live.set(g.id, g);
    if (!this.host.hasModel(g.model)) {
      this.#fail(g, 'unavailable', `no session has model "${g.model}" warm; start one with \`npx tessera serve --coordinator <url> --models ${g.model}\``, now, out);
      return out;
    }
    const queue = this.#queues.get(g.model) ?? [];
    if (queue.length >= this.config.queueLimit) {
      const retryAfterSeconds = this.retryAfterSeconds(g.model);
      const error = toErrorData(new TesseraError('rate-limited', `queue for model "${g.model}" is full (${queue.length} waiting); retry in ${retryAfterSeconds} s`, { details: { retryAfterSeconds } }));
      this.#end(g, { type: 'error', error, retryAfterSeconds, chunks: 0 }, now, 'rate-limited', out);
      return out;
    }
    queue.push(g);
    this.#queues.set(g.model, queue);
    this.pump(g.model, now, out);
    return out;
  }

  /** The caller went away: a running generation is cancelled on its session. Answered `aborted`. */
  cancel(requestId: string, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const g = this.#live.get(requestId);
    if (!g) return out;
    this.#stopOnSession(g, out);
    this.#fail(g, 'aborted', 'the client cancelled the request', now, out);
    if (g.sessionId === undefined) this.#unqueue(g);
    else this.pump(g.model, now, out);
    return out;
  }

  /**
   * Seconds until a slot likely frees: generations ahead (queued and running)
   * times the measured mean generation time, over the pool's slots; at least 1.
   */
  retryAfterSeconds(model: string): number {
    const slots = this.host.slots(model);
    if (slots <= 0) return Math.ceil(this.config.requestTimeoutMs / 1000);
    let depth = this.#queues.get(model)?.length ?? 0;
    for (const g of this.#live.values()) if (g.model === model && g.sessionId !== undefined) depth += 1;
    return Math.max(1, Math.ceil((depth * (this.#seconds.get(model) ?? DEFAULT_GENERATION_S)) / slots));
  }

  /** A `chunk` frame. Frames for a generation this session no longer holds (cancelled, timed out) are dropped. */
  chunk(sessionId: string, msg: ChunkMessage, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const g = this.#live.get(msg.requestId);
    if (!g || g.sessionId !== sessionId) return out;
    if (g.chunks === 0) this.metrics.timeToFirstToken(g.model, (now - g.submittedAt) / 1000);
    g.chunks += 1;
    g.idleUntil = now + this.config.requestTimeoutMs;
    const event: GenerationEvent = { type: 'chunk', chunk: msg.chunk, ...(g.chunks === 1 && msg.sessionMs !== undefined ? { sessionMs: msg.sessionMs } : {}) };
    out.push({ type: 'stream', requestId: g.id, event });
    return out;
  }

  done(sessionId: string, msg: DoneMessage, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const g = this.#live.get(msg.requestId);
    if (!g || g.sessionId !== sessionId) return out;
    this.#release(g);
    const seconds = (now - g.submittedAt) / 1000;
    const mean = this.#seconds.get(g.model);
    this.#seconds.set(g.model, mean === undefined ? seconds : mean * 0.8 + seconds * 0.2);
    this.metrics.generatedTokens(g.model, msg.result.completionTokens);
    this.#end(g, { type: 'done', result: msg.result, sessionId }, now, 'ok', out);
    this.pump(g.model, now, out);
    return out;
  }

  /** An `error` frame naming one generation of this session: its own failure, passed on (not re-dispatched). */
  error(sessionId: string, requestId: string, error: ErrorData, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const g = this.#live.get(requestId);
    if (!g || g.sessionId !== sessionId) return out;
    this.#release(g);
    this.#end(g, { type: 'error', error, chunks: g.chunks }, now, error.code, out);
    this.pump(g.model, now, out);
    return out;
  }

  /**
   * The session is gone (closed, lease expired, replaced, left). Generations
   * it had not started streaming go back to the front of their queue; the
   * others end with `session-closed`.
   */
  sessionFailed(sessionId: string, now: number, out: CoordinatorAction[]): void {
    const ids = this.#bySession.get(sessionId);
    this.#bySession.delete(sessionId);
    const retry: Generation[] = [];
    for (const id of ids ?? []) {
      const g = this.#live.get(id);
      if (!g) continue;
      g.sessionId = undefined;
      if (g.chunks > 0) {
        this.#fail(g, 'session-closed', `the session generating this response (${sessionId}) disconnected after ${g.chunks} chunk(s); the output is incomplete`, now, out);
      } else if (g.attempts >= 2) {
        this.#fail(g, 'unavailable', `generation failed to start on two sessions (the last, ${sessionId}, disconnected)`, now, out);
      } else {
        g.enqueuedAt = now;
        retry.push(g);
      }
    }
    for (const g of retry) {
      this.metrics.redispatched += 1;
      this.#queues.set(g.model, [g, ...(this.#queues.get(g.model) ?? [])]);
    }
    for (const model of new Set(retry.map((g) => g.model))) this.pump(model, now, out);
  }

  /** Deadlines (first token), stalls (no chunk for requestTimeoutMs), and queued work for freed slots. */
  tick(now: number, out: CoordinatorAction[]): void {
    for (const g of [...this.#live.values()]) {
      if (g.sessionId === undefined) continue;
      if (g.chunks === 0 && g.deadline <= now) {
        this.#stopOnSession(g, out);
        this.#fail(g, 'timeout', `no first token from session ${g.sessionId} before the deadline`, now, out);
      } else if (g.chunks > 0 && g.idleUntil <= now) {
        this.#stopOnSession(g, out);
        this.#fail(g, 'timeout', `session ${g.sessionId} sent no token for ${this.config.requestTimeoutMs} ms after ${g.chunks} chunk(s); the output is incomplete`, now, out);
      }
    }
    for (const model of [...this.#queues.keys()]) this.pump(model, now, out);
  }

  nextWakeAt(): number {
    let at = Infinity;
    for (const g of this.#live.values()) at = Math.min(at, g.sessionId !== undefined && g.chunks > 0 ? g.idleUntil : g.deadline);
    return at;
  }

  /** Dispatches queued generations of `model` to sessions with free slots, one request each. */
  pump(model: string, now: number, out: CoordinatorAction[]): void {
    const queue = this.#queues.get(model);
    if (!queue) return;
    for (const g of queue.filter((q) => q.deadline <= now)) {
      this.#unqueue(g);
      this.#fail(g, 'timeout', `waited ${now - g.enqueuedAt} ms in the queue for model "${model}" without a free session`, now, out);
    }
    if (!this.host.hasModel(model)) {
      for (const g of [...queue]) {
        this.#unqueue(g);
        this.#fail(g, 'unavailable', `the last session with model "${model}" left`, now, out);
      }
    }
    const cursor = this.#cursors.get(model) ?? { last: -1 };
    this.#cursors.set(model, cursor);
    while (queue.length > 0) {
      // Blind round-robin would send work to a full session; generations always need a free slot.
      const policy = this.config.policy === 'blind-round-robin' ? 'round-robin' : this.config.policy;
      const chosen = pickSession(policy, this.host.candidates(model, now), cursor, this.random);
      if (!chosen) break;
      const g = queue.shift() as Generation;
      g.sessionId = chosen.id;
      g.attempts += 1;
      const set = this.#bySession.get(chosen.id) ?? new Set<string>();
      set.add(g.id);
      this.#bySession.set(chosen.id, set);
      out.push({ type: 'send', sessionId: chosen.id, message: { type: 'generate', requestId: g.id, model, request: g.request } });
    }
    if (queue.length === 0) this.#queues.delete(model);
  }

  /** Queue depth and running generations per model, for /metrics. */
  counts(): { queued: { model: string; depth: number }[]; running: { model: string; count: number }[] } {
    const running = new Map<string, number>();
    for (const g of this.#live.values()) if (g.sessionId !== undefined) running.set(g.model, (running.get(g.model) ?? 0) + 1);
    return {
      queued: [...this.#queues].map(([model, q]) => ({ model, depth: q.length })),
      running: [...running].map(([model, count]) => ({ model, count })),
    };
  }

  /** Models with generations queued (the Coordinator pumps them when slots free). */
  queuedModels(): string[] {
    return [...this.#queues.keys()];
  }

  #stopOnSession(g: Generation, out: CoordinatorAction[]): void {
    if (g.sessionId === undefined) return;
    out.push({ type: 'send', sessionId: g.sessionId, message: { type: 'cancel', requestIds: [g.id] } });
    this.#release(g);
  }

  #release(g: Generation): void {
    if (g.sessionId === undefined) return;
    this.#bySession.get(g.sessionId)?.delete(g.id);
  }

  #unqueue(g: Generation): void {
    const queue = this.#queues.get(g.model);
    const i = queue?.indexOf(g) ?? -1;
    if (queue && i >= 0) queue.splice(i, 1);
  }

  #fail(g: Generation, code: ErrorCode, message: string, now: number, out: CoordinatorAction[]): void {
    const error = toErrorData(new TesseraError(code, message, { details: { requestId: g.id, model: g.model } }));
    this.#end(g, { type: 'error', error, chunks: g.chunks }, now, code, out);
  }

  #end(g: Generation, event: Extract<GenerationEvent, { type: 'done' | 'error' }>, now: number, status: string, out: CoordinatorAction[]): void {
    if (!this.#live.delete(g.id)) return;
    this.metrics.response(g.model, status, status === 'ok' ? (now - g.submittedAt) / 1000 : undefined);
    out.push({ type: 'stream', requestId: g.id, event });
  }
}
