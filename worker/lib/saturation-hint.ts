/**
 * An isolate's memory of which models' pools said "full" a moment ago, so
 * the inference routes can answer 429 before they read a body or call the
 * pool object.
 *
 * Why: under a burst, most requests of a saturated model are refused by its
 * pool the moment they arrive, but each refusal still costs a body read, a
 * decode and a Durable Object round trip, all queued behind the burst's
 * other requests in the same isolate (500 concurrent OCR predicts: 429 p50
 * 1116 ms against 804 ms for a bare health check on the same stack). After
 * one refusal, the next requests in the next moment would be refused too.
 *
 * Safety, which matters more than the saving:
 * - A hint holds for the pool's own Retry-After, and never longer than
 *   `maxHoldMs` (1 s): capacity can rise without this isolate hearing of it
 *   (a session joins, queued requests are cancelled, another isolate's
 *   requests finish), and a second of refusals is the most that costs.
 * - Any answer from the pool that is not a refusal (a result, or an error
 *   after admission) clears the hint at once: a request just left the pool,
 *   so there may be room, and only the pool can say.
 * - Per model, and only for the inference routes: sessions, cancels and the
 *   admin routes never consult it.
 * - Bounded: at most `maxModels` hints; expired ones are dropped first, then
 *   the oldest. Forgetting a hint is always safe (the pool is asked).
 */
import { HttpError } from '../http-error.ts';

/** The longest a hint refuses for, whatever Retry-After the pool gave. */
export const MAX_HOLD_MS = 1_000;

/** The most models an isolate keeps hints for. */
export const MAX_HINTED_MODELS = 256;

/** The `reason` in a hint's 429 details (the pool's own are `deadline`, `queue-full`, `measured-rate`). */
export const HINT_REASON = 'saturated-hint';

/** What a pool's 429 told the Worker. */
export interface PoolRefusal {
  retryAfterSeconds: number;
  /** The pool's error details (reason, queued, ratePerSecond), echoed in the hint's own 429s. */
  details?: Record<string, unknown>;
}

interface Hint {
  until: number;
  setAt: number;
  refusal: PoolRefusal;
}

export interface SaturationHints {
  /** The 429 to answer now for `model`, or undefined when the pool should be asked. */
  refusal(model: string): HttpError | undefined;
  /** Throws {@link refusal}'s 429 when there is one. */
  check(model: string): void;
  /** The pool refused a request of `model`: hint for its Retry-After, at most maxHoldMs. */
  refused(model: string, refusal: PoolRefusal): void;
  /** The pool answered a request of `model` with anything but a refusal: forget the hint. */
  admitted(model: string): void;
  /**
   * Runs one call to the pool and learns from its outcome: a 429 HttpError
   * sets the hint, anything else clears it. Resolves or rejects as the call
   * does. Checks the hint first, without calling: one set while this
   * request's body was being read still saves the pool round trip.
   */
  through<T>(model: string, call: () => Promise<T>): Promise<T>;
  /**
   * {@link through} without the check first: for a call whose request the
   * pool already has (a generation's first event), which a hint set since
   * must not answer for. A hint's own 429 passing through leaves the hint as it is.
   */
  learn<T>(model: string, call: () => Promise<T>): Promise<T>;
  /** Hints held (expired ones included until they are swept). */
  readonly size: number;
}

/**
 * @example
 * const hints = createSaturationHints(); // one per isolate (createApp)
 * hints.check('ppocr-v4'); // throws a 429 while the pool said full less than Retry-After ago
 * const outputs = await hints.through('ppocr-v4', () => askThePool(inputs)); // inferOrThrow does this for every inference route
 */
export function createSaturationHints(options: { clock?: () => number; maxHoldMs?: number; maxModels?: number } = {}): SaturationHints {
  const clock = options.clock ?? Date.now;
  const maxHoldMs = options.maxHoldMs ?? MAX_HOLD_MS;
  const maxModels = options.maxModels ?? MAX_HINTED_MODELS;
  const hints = new Map<string, Hint>();

  const sweep = (now: number): void => {
    for (const [model, h] of hints) if (h.until <= now) hints.delete(model);
    // Map order is insertion order, and refused() re-inserts: the first is the oldest.
    while (hints.size >= maxModels) hints.delete(hints.keys().next().value as string);
  };

  const self: SaturationHints = {
    refusal(model) {
      const h = hints.get(model);
      if (!h) return undefined;
      const now = clock();
      if (h.until <= now) {
        hints.delete(model);
        return undefined;
      }
      const retryAfterSeconds = Math.max(1, Math.ceil((h.until - now) / 1000));
      const poolReason = h.refusal.details?.reason;
      return new HttpError(429, 'rate-limited',
        `model "${model}" is saturated: its pool refused a request ${now - h.setAt} ms ago${typeof poolReason === 'string' ? ` (${poolReason})` : ''}; retry in ${retryAfterSeconds} s`,
        {
          headers: { 'Retry-After': String(retryAfterSeconds) },
          details: { ...h.refusal.details, retryAfterSeconds, reason: HINT_REASON, ...(typeof poolReason === 'string' ? { poolReason } : {}), waitedMs: 0, hintAgeMs: now - h.setAt },
        });
    },
    check(model) {
      const refusal = self.refusal(model);
      if (refusal) throw refusal;
    },
    refused(model, refusal) {
      const now = clock();
      const holdMs = Math.min(maxHoldMs, Math.max(0, refusal.retryAfterSeconds) * 1000);
      if (!(holdMs > 0)) return;
      hints.delete(model);
      sweep(now);
      hints.set(model, { until: now + holdMs, setAt: now, refusal });
    },
    admitted(model) {
      hints.delete(model);
    },
    async through(model, call) {
      self.check(model); // a rejection, as every other outcome (through is async)
      return self.learn(model, call);
    },
    async learn(model, call) {
      let value: Awaited<ReturnType<typeof call>>;
      try {
        value = await call();
      } catch (err) {
        const refusal = refusalOf(err);
        if (refusal) self.refused(model, refusal);
        else if (!isHintRefusal(err)) self.admitted(model);
        throw err;
      }
      self.admitted(model);
      return value;
    },
    get size() {
      return hints.size;
    },
  };
  return self;
}

function isHintRefusal(err: unknown): boolean {
  return err instanceof HttpError && err.details.reason === HINT_REASON;
}

/**
 * The pool's refusal in an error the routes threw for its answer (inferOrThrow,
 * generationHttpError): a 429 `rate-limited` HttpError, with its Retry-After.
 * A hint's own 429 is not one: it must not extend itself.
 *
 * @example
 * refusalOf(new HttpError(429, 'rate-limited', 'full', { headers: { 'Retry-After': '3' } })); // { retryAfterSeconds: 3, details: {} }
 */
export function refusalOf(err: unknown): PoolRefusal | undefined {
  if (!(err instanceof HttpError) || err.status !== 429 || err.code !== 'rate-limited') return undefined;
  if (isHintRefusal(err)) return undefined;
  const fromHeader = Number(err.headers['Retry-After']);
  const fromDetails = Number(err.details.retryAfterSeconds);
  const retryAfterSeconds = Number.isFinite(fromHeader) && fromHeader > 0 ? fromHeader : Number.isFinite(fromDetails) && fromDetails > 0 ? fromDetails : 1;
  return { retryAfterSeconds, details: err.details };
}
