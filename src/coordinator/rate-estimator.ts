/**
 * A session's measured throughput (requests per second), as an exponentially
 * weighted average over *busy* time.
 *
 * Why busy time: a session that is idle half the time because few requests
 * come is not half as fast. Rate samples are taken only between completions
 * while the session had work outstanding, so the estimate is the session's
 * capacity, not the load it happened to get.
 *
 * Why a ratio of decayed sums rather than `rate = a*sample + (1-a)*rate`: a
 * batch of 8 and eight requests finishing in the same millisecond are the same
 * thing here (completions with ~0 elapsed time), and a per-sample EWMA would
 * turn the second case into an infinite sample. Decaying both the completions
 * and the busy seconds by exp(-busy/window) weights recent behaviour the same
 * way an EWMA does while staying finite.
 */
export interface RateState {
  /** Decayed completions. */
  work: number;
  /** Decayed busy seconds. */
  seconds: number;
}

/**
 * Starts from a prior worth one window of busy time at the declared rate, so a
 * newcomer is neither ignored nor flooded before it has been measured.
 *
 * @example
 * let s = initialRate(50, 2000); s = recordCompletions(s, 4, 100, 2000); rateOf(s); // ~ 48
 */
export function initialRate(requestsPerSecond: number, windowMs: number): RateState {
  const seconds = windowMs / 1000;
  return { work: requestsPerSecond * seconds, seconds };
}

/** Folds in `count` completions observed over `busyMs` of busy time. */
export function recordCompletions(state: RateState, count: number, busyMs: number, windowMs: number): RateState {
  const decay = Math.exp(-Math.max(0, busyMs) / windowMs);
  return { work: state.work * decay + count, seconds: state.seconds * decay + Math.max(0, busyMs) / 1000 };
}

/** Requests per second; never zero, so (inFlight + 1) / rate stays finite. */
export function rateOf(state: RateState): number {
  return Math.max(state.work / Math.max(state.seconds, 1e-6), 1e-3);
}

/**
 * Like {@link recordCompletions}, for the steady rate that admission uses:
 * an interval longer than `maxFactor` times what the estimate expects for
 * `count` completions counts as that many. One completion that took far
 * longer than the session's recent pace is more likely a stall outside the
 * session than its new speed: the coordinator busy taking a burst in holds
 * every result back for a second or two (measured in bench:coordinator's OCR
 * burst), and counted in full such a sample cut the estimate by a fifth and
 * shed requests that then finished in time. A real slowdown is still
 * followed, by up to `maxFactor` per sample.
 *
 * @example
 * let s = initialRate(5, 2000);
 * s = recordSteadyCompletions(s, 1, 1500, 20_000); // counted as 600 ms (3 x 200 ms), not 1500
 */
export function recordSteadyCompletions(state: RateState, count: number, busyMs: number, windowMs: number, maxFactor = 3): RateState {
  const expectedMs = (1000 * count) / rateOf(state);
  return recordCompletions(state, count, Math.min(Math.max(0, busyMs), maxFactor * expectedMs), windowMs);
}
