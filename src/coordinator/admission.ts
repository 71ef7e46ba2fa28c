/**
 * Admission by deadline: will a request that joins the queue now start, and
 * finish, before its deadline? Answering that at submit time lets the pool
 * say 429 at once instead of holding a request until it times out (under a
 * 500-request burst against one 5 req/s session, a 256-deep queue admitted
 * ~90 requests that could only ever time out).
 *
 * The estimate is a fluid one: the pool completes requests at the sum of its
 * sessions' measured rates, so the request at queue position `ahead` starts
 * after the `ahead + 1 - freeSlots` completions in front of it, then runs for
 * one mean service time. It is deliberately simple: the measured rates are
 * busy-time EWMAs (rate-estimator.ts), already the best figure the pool has,
 * and anything it gets wrong is caught by {@link shouldShed} as the rates
 * firm up.
 *
 * Text generations use the same estimate (generation-pool.ts): their deadline
 * covers the wait for the first token, so {@link PoolLoad.answerMs} is the
 * measured time to first token rather than a whole service time.
 */
import { TesseraError } from '../errors.ts';

/** What the pool looks like to one model's queue. */
export interface PoolLoad {
  /**
   * Sum of the steady measured requests/second (config.admissionWindowMs) of
   * the sessions with the model warm. Not the lower of that and the declared
   * rate: a session declares from a small sample image at start, which in the
   * OCR bench said 0.76/s for a session that served 4.5/s, and admission
   * pinned to it admitted 21 of the ~120 requests that could finish.
   */
  rate: number;
  /** Sessions with the model warm (for the mean service time). */
  sessions: number;
  /** Dispatch slots free right now across those sessions. */
  freeSlots: number;
  /**
   * Milliseconds from a request's start to what its deadline waits for.
   * Absent: one mean service time (`sessions / rate`), an inference answer.
   * A generation's deadline covers only its first token (the client is
   * streaming after that), so the generation pool passes the measured time
   * from dispatch to first token.
   */
  answerMs?: number;
}

/**
 * Milliseconds from now until a request at queue position `ahead` (requests
 * queued in front of it) is expected to be answered (for a generation: to
 * stream its first token; see {@link PoolLoad.answerMs}).
 *
 * @example
 * expectedFinishMs({ rate: 5, sessions: 1, freeSlots: 0 }, 9); // 10 starts ahead at 5/s + 200 ms service = 2200
 * expectedFinishMs({ rate: 2, sessions: 1, freeSlots: 0, answerMs: 50 }, 3); // 4 starts ahead at 2/s + 50 ms to first token = 2050
 */
export function expectedFinishMs(load: PoolLoad, ahead: number): number {
  if (load.rate <= 0 || load.sessions <= 0) return Infinity;
  const waitFor = Math.max(0, ahead + 1 - load.freeSlots);
  const answerMs = load.answerMs ?? (1000 * load.sessions) / load.rate;
  return (1000 * waitFor) / load.rate + answerMs;
}

/**
 * The admission decision for a new request: admitted, or refused with the
 * seconds after which the same request would likely be admitted (the queue
 * has drained by the excess), for `Retry-After`.
 *
 * Admitted only while the expected finish fits in `headroom` of the budget:
 * the rest is margin for an estimate that proves optimistic, so admitted
 * work finishes rather than being shed later (a late 429 is the failure
 * this decision exists to avoid). A request that would go to a free slot at
 * once is always admitted: nothing waiting can do better, and a deadline
 * shorter than one service time is the caller's choice.
 *
 * @example
 * admit({ rate: 5, sessions: 1, freeSlots: 0 }, 200, 30_000); // { admit: false, retryAfterSeconds: 17 }
 */
export function admit(load: PoolLoad, ahead: number, budgetMs: number, headroom = 0.8): { admit: true } | { admit: false; retryAfterSeconds: number; expectedMs: number } {
  if (ahead < load.freeSlots) return { admit: true };
  const expectedMs = expectedFinishMs(load, ahead);
  const usableMs = budgetMs * headroom;
  if (expectedMs <= usableMs) return { admit: true };
  const excess = Number.isFinite(expectedMs) ? expectedMs - usableMs : budgetMs;
  return { admit: false, retryAfterSeconds: Math.max(1, Math.ceil(excess / 1000)), expectedMs };
}

/**
 * Whether a request already queued at position `ahead` should be answered
 * 429 now rather than left to time out: the estimate says it cannot finish
 * by its deadline. Admission used the rates known at submit time; this is
 * the safety net when capacity really falls (a session leaves or slows
 * down), so that nothing waits out its deadline. Only a clear miss sheds
 * (the estimate over `slack` times the time left), and with admission's
 * headroom below 1 the two thresholds leave a band in which a rate can sag
 * without any admitted request being shed.
 *
 * @example
 * shouldShed({ rate: 5, sessions: 1, freeSlots: 0 }, 149, 10_000); // true: 30.2 s expected, 10 s left
 */
export function shouldShed(load: PoolLoad, ahead: number, remainingMs: number, slack = 1.0): boolean {
  return expectedFinishMs(load, ahead) > remainingMs * slack;
}

/**
 * The `rate-limited` error for a request {@link admit} refused, one shape for
 * every API (inference and generation) so a client and the benchmarks read
 * one set of details: `reason: 'deadline'`, the requests `queued` ahead,
 * `waitedMs` (0: decided at submit), the pool's `ratePerSecond`, and
 * `retryAfterSeconds` from the same estimate.
 *
 * @example
 * const verdict = admit(load, ahead, budgetMs);
 * if (!verdict.admit) throw deadlineRefusal({ model: 'ocr', load, ahead, budgetMs, verdict, awaits: 'answer' });
 */
/**
 * The 429 for a request that finds its model's queue at the limit: the same
 * shape from inference admission and generation admission.
 *
 * @example
 * const error = queueFullRefusal('llama', queue.length, 3); // TesseraError rate-limited, details.reason 'queue-full'
 */
export function queueFullRefusal(model: string, queued: number, retryAfterSeconds: number): TesseraError {
  return new TesseraError('rate-limited', `queue for model "${model}" is full (${queued} waiting); retry in ${retryAfterSeconds} s`, {
    details: { retryAfterSeconds, reason: 'queue-full', queued, waitedMs: 0 },
  });
}

export function deadlineRefusal(o: {
  model: string;
  load: PoolLoad;
  ahead: number;
  budgetMs: number;
  verdict: { retryAfterSeconds: number; expectedMs: number };
  /** What the deadline covers: the whole answer (inference) or the first token (generation, "start"). */
  awaits: 'answer' | 'start';
}): TesseraError {
  const { retryAfterSeconds, expectedMs } = o.verdict;
  const expected = Number.isFinite(expectedMs) ? `${(expectedMs / 1000).toFixed(1)} s` : 'unbounded';
  const what = o.awaits === 'answer' ? 'answer' : 'start generating';
  const message = `model "${o.model}" cannot ${what} before the deadline: ${o.ahead} requests are queued ahead and the expected wait is ${expected}, over the ${(o.budgetMs / 1000).toFixed(1)} s left; retry in ${retryAfterSeconds} s`;
  return new TesseraError('rate-limited', message, {
    details: { retryAfterSeconds, queued: o.ahead, reason: 'deadline', waitedMs: 0, ratePerSecond: Math.round(o.load.rate * 1000) / 1000 },
  });
}
