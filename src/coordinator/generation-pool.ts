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
 *   that sends nothing for `requestTimeoutMs` is taken as stalled;
 * - admission by deadline, with the inference queue's estimate
 *   (admission.ts): a generation the pool cannot start before its deadline
 *   is refused at once with `rate-limited` and a Retry-After from that
 *   estimate, rather than held until it times out; one that waits out its
 *   deadline all the same (capacity fell) ends with `timeout`. Queued
 *   generations are not shed later as queued inference requests are
 *   (Coordinator #shedHopeless): the estimate counts each running generation
 *   as a whole one still to go, pessimistic by up to one generation, and
 *   generations last seconds, so re-judging a queue with it against the
 *   shrinking time left would refuse what was going to start in time.
 *
 * Pure like the Coordinator, which owns the sessions and hands this pool a
 * narrow view of them ({@link GenerationHost}).
 */
import { TesseraError, toErrorData, type ErrorCode, type ErrorData } from '../errors.ts';
import type { ChunkMessage, DoneMessage } from '../protocol/coordinator-messages.ts';
import type { CoordinatorAction, GenerationEvent, GenerationRequest } from './actions.ts';
import type { CoordinatorConfig } from './config.ts';
import type { MetricsRecorder } from './metrics.ts';
import { admit, deadlineRefusal, queueFullRefusal, type PoolLoad } from './admission.ts';
import { rateOf, recordSteadyCompletions, type RateState } from './rate-estimator.ts';
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
  /** When it was last sent to a session (its time to first token is measured from there). */
  dispatchedAt: number;
  chunks: number;
  /** After the first chunk: when the session counts as stalled. */
  idleUntil: number;
}

/** What the pool needs to know about the Coordinator's sessions. */
export interface GenerationHost {
  /** Sessions with the model warm, a free slot and no backoff, in join order. */
  candidates(model: string, now: number): Candidate[];
  hasModel(model: string): boolean;
  /**
   * Every session with the model warm: its slots (maxInFlight) and how many
   * are free now (0 while backed off: pump() would not use them).
   */
  members(model: string, now: number): { id: string; slots: number; freeSlots: number }[];
}

/** Mean generation time assumed for a queue-full Retry-After before one has been measured. */
const DEFAULT_GENERATION_S = 2;

/**
 * One session's measured generation pace for one model: completed
 * generations per second of time it had at least one of them running (the
 * rate estimator's busy-time EWMA, over admissionWindowMs, as inference's
 * steady rate). With several slots that is slots over the mean duration.
 *
 * Why busy time rather than slots / (mean duration of one generation): a
 * session's slots share one engine (one GPU, one CPU pool), so four
 * generations at once each run about four times slower than one alone;
 * slots over a duration measured at low load would promise four times the
 * capacity and admit work that then times out. Busy time measures what the
 * session did at the concurrency it had: a session seen only one at a time
 * is taken at that pace (admitting less, never too much) until a burst fills
 * its slots and the estimate follows within a few completions.
 *
 * Why completions rather than tokens/s x max_tokens: most generations end
 * at EOS or a stop string well before max_tokens, so a bound from
 * max_tokens would refuse work that fits; the measured completions already
 * average the mix of lengths the pool actually serves.
 */
interface Pace {
  steady: RateState;
  /** Generations of the model running on the session now. */
  running: number;
  /** Start of the busy interval the next completion is measured against. */
  busyMark: number;
  /** Completions measured: a pace with none is not a measurement. */
  measured: number;
}

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
  /** Measured pace per session, then per model. */
  readonly #paces = new Map<string, Map<string, Pace>>();
  /** EWMA of dispatch-to-first-chunk milliseconds per model (what a queued request waits for after its start). */
  readonly #ttftMs = new Map<string, number>();

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
      submittedAt: now, enqueuedAt: now, attempts: 0, sessionId: undefined, dispatchedAt: now, chunks: 0, idleUntil: Infinity,
    };
    this.#live.set(g.id, g);
    if (!this.host.hasModel(g.model)) {
      this.#fail(g, 'unavailable', `no session has model "${g.model}" warm; start one with \`npx tessera serve --coordinator <url> --models ${g.model}\``, now, out);
      return out;
    }
    const queue = this.#queues.get(g.model) ?? [];
    // One look at the pool's pace for both refusals (it walks the model's sessions).
    const load = this.#loadOf(g.model, now);
    if (this.#refuseByDeadline(g, queue.length, load, now, out)) return out;
    if (queue.length >= this.config.queueLimit) {
      const retryAfterSeconds = this.#retryAfterSeconds(g.model, load, now);
      const error = toErrorData(queueFullRefusal(g.model, queue.length, retryAfterSeconds));
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
   * Seconds until a queue slot likely frees: generations ahead (queued and
   * running) over the pool's measured generation rate, at least 1. Before
   * any generation of the model has been measured, an assumed
   * DEFAULT_GENERATION_S each over the pool's slots.
   */
  #retryAfterSeconds(model: string, load: PoolLoad | undefined, now: number): number {
    let depth = this.#queues.get(model)?.length ?? 0;
    for (const g of this.#live.values()) if (g.model === model && g.sessionId !== undefined) depth += 1;
    if (load) return Math.max(1, Math.ceil(depth / load.rate));
    const slots = this.host.members(model, now).reduce((n, m) => n + m.slots, 0);
    if (slots <= 0) return Math.ceil(this.config.requestTimeoutMs / 1000);
    return Math.max(1, Math.ceil((depth * DEFAULT_GENERATION_S) / slots));
  }

  /**
   * What the pool can do for a model's generations now (admission.ts's
   * PoolLoad): the summed measured paces of the sessions with the model, the
   * free slots, and the measured time to first token. A session not yet
   * measured counts at the measured ones' mean (it has the model warm and
   * slots; ignoring it would refuse work it will take).
   *
   * Undefined while no session has finished a generation of the model (a
   * cold pool): there is nothing to estimate from, so admission falls back
   * to the queue limit alone, as before it looked at deadlines. A declared
   * requests/second is for inference and says nothing about generations.
   */
  #loadOf(model: string, now: number): PoolLoad | undefined {
    const members = this.host.members(model, now);
    let measuredRate = 0;
    let measured = 0;
    let freeSlots = 0;
    for (const m of members) {
      freeSlots += m.freeSlots;
      const pace = this.#paces.get(m.id)?.get(model);
      if (pace && pace.measured > 0) {
        measuredRate += rateOf(pace.steady);
        measured += 1;
      }
    }
    if (measured === 0) return undefined;
    const rate = measuredRate + (measuredRate / measured) * (members.length - measured);
    return { rate, sessions: members.length, freeSlots, answerMs: this.#ttftMs.get(model) ?? 0 };
  }

  /**
   * Admission by deadline (admission.ts), for the first token: a generation
   * the measured pool cannot start before its deadline gets `rate-limited`
   * now, with the same details as an inference refusal. Cold pools admit
   * (see #loadOf).
   */
  #refuseByDeadline(g: Generation, ahead: number, load: PoolLoad | undefined, now: number, out: CoordinatorAction[]): boolean {
    if (!load) return false;
    const budgetMs = g.deadline - now;
    const verdict = admit(load, ahead, budgetMs, this.config.admissionHeadroom);
    if (verdict.admit) return false;
    const error = deadlineRefusal({ model: g.model, load, ahead, budgetMs, verdict, awaits: 'start' });
    this.#end(g, { type: 'error', error: toErrorData(error), retryAfterSeconds: verdict.retryAfterSeconds, chunks: 0 }, now, 'rate-limited', out);
    return true;
  }

  /** A `chunk` frame. Frames for a generation this session no longer holds (cancelled, timed out) are dropped. */
  chunk(sessionId: string, msg: ChunkMessage, now: number): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    const g = this.#live.get(msg.requestId);
    if (!g || g.sessionId !== sessionId) return out;
    if (g.chunks === 0) {
      this.metrics.timeToFirstToken(g.model, (now - g.submittedAt) / 1000);
      const sample = now - g.dispatchedAt;
      const mean = this.#ttftMs.get(g.model);
      this.#ttftMs.set(g.model, mean === undefined ? sample : mean * 0.8 + sample * 0.2);
    }
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
    const pace = this.#paces.get(sessionId)?.get(g.model);
    if (pace) {
      pace.steady = recordSteadyCompletions(pace.steady, 1, now - pace.busyMark, this.config.admissionWindowMs);
      pace.measured += 1;
      pace.busyMark = now;
    }
    this.#release(g);
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
    // A session that joins again under this id is measured afresh.
    this.#paces.delete(sessionId);
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
      g.dispatchedAt = now;
      g.attempts += 1;
      this.#paceOf(chosen.id, model, now).running += 1;
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

  /** The pace of `model` on a session, started when it first gets a generation (busy from then). */
  #paceOf(sessionId: string, model: string, now: number): Pace {
    const byModel = this.#paces.get(sessionId) ?? new Map<string, Pace>();
    this.#paces.set(sessionId, byModel);
    let pace = byModel.get(model);
    if (!pace) {
      pace = { steady: { work: 0, seconds: 0 }, running: 0, busyMark: now, measured: 0 };
      byModel.set(model, pace);
    }
    if (pace.running === 0) pace.busyMark = now;
    return pace;
  }

  /**
   * The generation no longer holds its session's slot. Only done() moves the
   * busy mark: a generation cut short (cancelled, timed out, failed) is not
   * a completion, and the time it held a slot stays in the interval the next
   * completion is measured over (a slower-looking sample: admitting less,
   * never more). With nothing left running, the next dispatch starts a new
   * interval (#paceOf).
   */
  #release(g: Generation): void {
    if (g.sessionId === undefined) return;
    if (this.#bySession.get(g.sessionId)?.delete(g.id)) {
      const pace = this.#paces.get(g.sessionId)?.get(g.model);
      if (pace) pace.running = Math.max(0, pace.running - 1);
    }
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
