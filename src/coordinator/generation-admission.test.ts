/**
 * Admission by deadline for text generations (generation-pool.ts with
 * admission.ts), on a fake clock: a simulated session answers each
 * `generate` with its first chunk after `ttftMs` and `done` after `genMs`,
 * and the driver runs the coordinator's ticks at nextWakeAt() as a host would.
 */
import { describe, expect, it } from 'vitest';
import type { JoinMessage } from '../protocol/coordinator-messages.ts';
import type { CoordinatorAction, GenerationEvent } from './actions.ts';
import { Coordinator } from './coordinator.ts';

const gen = { name: 'llm', revision: '1', maxBatch: 1, task: 'text-generation' as const, contextLength: 64 };
const joinMsg = (id: string, maxInFlight = 1): JoinMessage => ({
  type: 'join', token: 't', sessionId: id, device: 'wasm', models: [gen], capacity: { maxInFlight, requestsPerSecond: 10 },
});
const make = (config = {}) => new Coordinator({ config: { maxDelayMs: 0, leaseMs: 60_000, heartbeatMs: 5_000, requestTimeoutMs: 2_000, ...config }, random: () => 0.5 });
const request = (id: string, deadline?: number) => ({ id, model: 'llm', request: { prompt: 'hey', maxNewTokens: 8 }, ...(deadline !== undefined ? { deadline } : {}) });
type Ended = Extract<GenerationEvent, { type: 'done' | 'error' }> & { requestId: string; at: number };

/** One session that generates at a fixed pace, `stuck` ones never answer. */
class Harness {
  readonly c: Coordinator;
  now = 0;
  readonly ended = new Map<string, Ended>();
  readonly #timers: { at: number; run: () => CoordinatorAction[] }[] = [];
  readonly pace: { ttftMs: number; genMs: number; stuck?: boolean };

  constructor(c: Coordinator, pace: { ttftMs: number; genMs: number; stuck?: boolean }) {
    this.c = c;
    this.pace = pace;
  }

  apply(actions: CoordinatorAction[]): void {
    for (const a of actions) {
      if (a.type === 'send' && a.message.type === 'generate' && !this.pace.stuck) {
        const { requestId } = a.message;
        const sessionId = a.sessionId;
        const start = this.now;
        this.#timers.push({ at: start + this.pace.ttftMs, run: () => this.c.handle(sessionId, { type: 'chunk', requestId, chunk: { text: 'a', tokenIds: [1] } }, this.now) });
        this.#timers.push({
          at: start + this.pace.genMs,
          run: () => this.c.handle(sessionId, { type: 'done', requestId, result: { text: 'a', finishReason: 'length', promptTokens: 3, completionTokens: 8 } }, this.now),
        });
      } else if (a.type === 'stream' && a.event.type !== 'chunk') {
        this.ended.set(a.requestId, { ...a.event, requestId: a.requestId, at: this.now });
      }
    }
  }

  /** Submits now, with a deadline `deadlineMs` away (default: the config's requestTimeoutMs); returns its end if it ended at once. */
  submit(id: string, deadlineMs?: number): Ended | undefined {
    this.apply(this.c.submitGeneration(request(id, deadlineMs === undefined ? undefined : this.now + deadlineMs), this.now));
    return this.ended.get(id);
  }

  /** Runs session frames and coordinator ticks in time order until `until`. */
  runUntil(until: number): void {
    for (;;) {
      this.#timers.sort((x, y) => x.at - y.at);
      const next = this.#timers[0];
      const wake = this.c.nextWakeAt() ?? Infinity;
      const at = Math.min(next?.at ?? Infinity, wake);
      if (at > until) break;
      this.now = Math.max(this.now, at);
      if (next && next.at <= wake) {
        this.#timers.shift();
        this.apply(next.run());
      } else {
        this.apply(this.c.tick(this.now));
      }
    }
    this.now = until;
  }

  codes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.ended.values()) {
      const k = e.type === 'done' ? 'done' : e.error.code;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }
}

/** Three generations one after another: the session's pace (here 5/s, 20 ms to first token) is measured. */
function warm(h: Harness): void {
  for (let i = 0; i < 3; i++) {
    h.submit(`warm${i}`);
    h.runUntil(h.now + h.pace.genMs);
  }
  expect(h.codes()).toEqual({ done: 3 });
  h.ended.clear();
}

describe('Coordinator: generation admission by deadline', () => {
  it('a burst against one slow session: what cannot start by its deadline gets 429 at once with a sane Retry-After, nothing times out', () => {
    const h = new Harness(make(), { ttftMs: 20, genMs: 200 });
    h.c.join(joinMsg('a'), 0);
    warm(h);
    const burstAt = h.now;
    const refused: Ended[] = [];
    for (let i = 0; i < 40; i++) {
      const e = h.submit(`g${i}`);
      if (e) refused.push(e);
    }
    // 5/s on one slot, 20 ms to first token, 0.8 of 2 s usable: one runs, and queued
    // position p starts in (p + 1) x 200 ms + 20 ms, which fits for p = 0..6.
    expect(refused).toHaveLength(32);
    const first = refused[0] as Ended;
    expect(first.type === 'error' && first.error.code).toBe('rate-limited');
    // Answered within the submit call itself, on the same clock tick.
    expect(refused.every((e) => e.at === burstAt && e.type === 'error' && e.error.code === 'rate-limited')).toBe(true);
    // The same details as an inference refusal (coordinator-reliability.test.ts).
    expect(first.type === 'error' && first.error.details).toMatchObject({ reason: 'deadline', waitedMs: 0, queued: 7, ratePerSecond: 5, retryAfterSeconds: 1 });
    expect(first.type === 'error' && first.error.message).toMatch(/cannot start generating before the deadline/);
    for (const e of refused) {
      // Retry-After from the estimate: 8 x 200 + 20 ms against 1.6 s usable, so 1 s; never beyond the deadline itself.
      expect(e.type === 'error' && e.retryAfterSeconds).toBe(1);
    }
    h.runUntil(burstAt + 5_000);
    expect(h.codes()).toEqual({ 'rate-limited': 32, done: 8 });
    // Retrying after Retry-After is admitted: by then 5 of the 8 have finished.
    h.ended.clear();
    h.now = burstAt + 1_000;
    expect(h.submit('again')).toBeUndefined();
  });

  it('Retry-After is the excess of the expected wait over the usable deadline, and a full queue answers with the same details shape', () => {
    const h = new Harness(make({ requestTimeoutMs: 10_000, queueLimit: 4 }), { ttftMs: 20, genMs: 1_000 });
    h.c.join(joinMsg('a'), 0);
    warm(h);
    for (let i = 0; i < 5; i++) expect(h.submit(`g${i}`)).toBeUndefined();
    // 1/s: 4 queued, so the fifth waits for (4 + 1) completions; past the queue limit of 4.
    const full = h.submit('full') as Ended;
    expect(full.type === 'error' && full.error.details).toMatchObject({ reason: 'queue-full', queued: 4, waitedMs: 0 });
    // 5 ahead (1 running, 4 queued) at the measured 1/s.
    expect(full.type === 'error' && full.retryAfterSeconds).toBe(5);
    // Deadlines of 3 s (2.4 s usable): 1 runs, 2 queued (2 x 1 s + 20 ms fits); the next needs 3.02 s, 0.62 s too many.
    h.runUntil(h.now + 10_000);
    const answers = Array.from({ length: 6 }, (_, i) => h.submit(`t${i}`, 3_000));
    expect(answers.map((e) => (e?.type === 'error' ? e.retryAfterSeconds : 'admitted'))).toEqual(['admitted', 'admitted', 'admitted', 1, 1, 1]);
    // Deadlines of 1.5 s (1.2 s usable): one queued fits (1.02 s); the next would start in 2.02 s, 0.82 s too
    // late. Refused ones never join the queue, so a shorter deadline is what makes the answer longer:
    h.runUntil(h.now + 10_000);
    const shorter = Array.from({ length: 3 }, (_, i) => h.submit(`s${i}`, 1_500));
    expect(shorter.map((e) => (e?.type === 'error' ? e.retryAfterSeconds : 'admitted'))).toEqual(['admitted', 'admitted', 1]);
    const shortest = h.submit('x', 1_000);
    // 2.02 s expected against 0.8 s usable: 1.22 s over, so 2.
    expect(shortest?.type === 'error' && shortest.retryAfterSeconds).toBe(2);
  });

  it('counts a second, not yet measured session at the measured one\'s pace and uses its free slots', () => {
    const h = new Harness(make(), { ttftMs: 20, genMs: 200 });
    h.c.join(joinMsg('a'), 0);
    warm(h);
    h.c.join(joinMsg('b', 2), h.now);
    const refused = Array.from({ length: 40 }, (_, i) => h.submit(`g${i}`)).filter((e) => e !== undefined);
    // Three free slots take three at once; then 10/s (5 measured + 5 assumed): position p starts in (p + 1) x 100 + 20 ms.
    expect(refused[0]?.type === 'error' && refused[0].error.details).toMatchObject({ reason: 'deadline', ratePerSecond: 10, queued: 15 });
    expect(refused).toHaveLength(40 - 3 - 15);
    h.runUntil(h.now + 5_000);
    expect(h.codes()).toEqual({ 'rate-limited': 22, done: 18 });
  });

  it('measures a session of two slots at the concurrency it ran: one at a time is taken at that pace, both busy at twice it', () => {
    const refusal = (h: Harness): Ended | undefined => Array.from({ length: 40 }, (_, i) => h.submit(`b${i}`)).find((e) => e !== undefined);
    const alone = new Harness(make(), { ttftMs: 20, genMs: 200 });
    alone.c.join(joinMsg('a', 2), 0);
    warm(alone);
    // Busy time, not slots / duration: slots that share one engine would not really double it.
    expect(refusal(alone)).toMatchObject({ error: { details: { ratePerSecond: 5 } } });
    const full = new Harness(make(), { ttftMs: 20, genMs: 200 });
    full.c.join(joinMsg('a', 2), 0);
    for (let round = 0; round < 3; round++) {
      full.submit(`w${round}a`);
      full.submit(`w${round}b`);
      full.runUntil(full.now + 200);
    }
    expect(refusal(full)).toMatchObject({ error: { details: { ratePerSecond: 10 } } });
  });

  it('a cold pool (nothing measured) admits by the queue limit alone, and a queued generation that passes its deadline ends with timeout and leaves the queue', () => {
    const h = new Harness(make({ queueLimit: 16 }), { ttftMs: 20, genMs: 200, stuck: true });
    h.c.join(joinMsg('a'), 0);
    for (let i = 0; i < 10; i++) expect(h.submit(`g${i}`)).toBeUndefined();
    // Queued generations count in the queue depth the pool summary's queueWaitMs is computed from.
    expect(h.c.metrics().queueDepth).toEqual([{ model: 'llm', depth: 9 }]);
    expect(h.c.metrics().inFlight).toEqual([{ model: 'llm', count: 1 }]);
    expect(h.c.nextWakeAt()).toBe(2_000);
    h.runUntil(2_000);
    // Never silent: each ends with `timeout` (504 at the HTTP edge), the queued ones saying they waited in the queue.
    expect(h.codes()).toEqual({ timeout: 10 });
    const queued = h.ended.get('g5') as Ended;
    expect(queued.type === 'error' && queued.error.message).toMatch(/waited 2000 ms in the queue/);
    expect(h.c.metrics().queueDepth).toEqual([]);
    expect(h.c.nextWakeAt()).toBe(60_000);
    // The queue is really empty: all 16 places are free again.
    for (let i = 0; i < 18; i++) h.submit(`n${i}`);
    // One runs, sixteen wait: the eighteenth is the first refused.
    expect(h.ended.get('n17')?.type === 'error' && (h.ended.get('n17') as Extract<Ended, { type: 'error' }>).error.details).toMatchObject({ reason: 'queue-full', queued: 16 });
    expect(h.ended.has('n16')).toBe(false);
  });

  it('cancel while queued still works under measured admission, and frees the place for the next', () => {
    const h = new Harness(make(), { ttftMs: 20, genMs: 200 });
    h.c.join(joinMsg('a'), 0);
    warm(h);
    for (let i = 0; i < 8; i++) expect(h.submit(`g${i}`)).toBeUndefined();
    expect(h.submit('over')?.type).toBe('error');
    h.apply(h.c.cancel('g4', h.now));
    expect(h.ended.get('g4')).toMatchObject({ type: 'error', error: { code: 'aborted' } });
    expect(h.c.metrics().queueDepth).toEqual([{ model: 'llm', depth: 6 }]);
    // Its place is free: one more fits before the deadline.
    expect(h.submit('instead')).toBeUndefined();
    h.runUntil(h.now + 5_000);
    expect(h.codes()).toEqual({ aborted: 1, 'rate-limited': 1, done: 8 });
    // A cancelled running generation is not measured: the pace stays 5/s.
    h.submit('run');
    h.now += 50;
    h.apply(h.c.cancel('run', h.now));
    h.runUntil(h.now + 100);
    const probe = Array.from({ length: 10 }, (_, i) => h.submit(`p${i}`)).find((e) => e !== undefined);
    expect(probe?.type === 'error' && probe.error.details).toMatchObject({ ratePerSecond: 5 });
  });
});
