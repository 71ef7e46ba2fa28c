import { describe, expect, it } from 'vitest';
import { initialRate, rateOf, recordCompletions, recordSteadyCompletions } from './rate-estimator.ts';

/** `n` completions of `ms` each, one at a time. */
const steadily = (state: ReturnType<typeof initialRate>, n: number, ms: number, windowMs: number, record = recordSteadyCompletions) => {
  let s = state;
  for (let i = 0; i < n; i++) s = record(s, 1, ms, windowMs);
  return s;
};

describe('rate estimator', () => {
  it('follows busy time from the declared prior', () => {
    // Declared 50/s, runs at 10/s: after 10 s of busy time the prior is e^-5 of the estimate.
    const s = steadily(initialRate(50, 2000), 100, 100, 2000, recordCompletions);
    expect(rateOf(s)).toBeGreaterThan(10);
    expect(rateOf(s)).toBeLessThan(10.5);
  });

  it('the steady rate counts one stalled completion as at most 3 expected intervals', () => {
    const warm = steadily(initialRate(5, 2000), 20, 200, 10_000);
    expect(rateOf(warm)).toBeCloseTo(5, 6);
    // A 1.5 s interval (the object busy taking a burst in) counts as 600 ms.
    const stalled = recordSteadyCompletions(warm, 1, 1500, 10_000);
    expect(rateOf(stalled)).toBeCloseTo(rateOf(recordCompletions(warm, 1, 600, 10_000)), 9);
    expect(rateOf(stalled) / rateOf(warm)).toBeGreaterThan(0.9);
    // Counted in full, the same sample cuts a fifth off.
    expect(rateOf(recordCompletions(warm, 1, 1500, 10_000)) / rateOf(warm)).toBeLessThan(0.82);
    // Within the factor, nothing is clipped; a batch's interval is expected per completion.
    expect(recordSteadyCompletions(warm, 1, 500, 10_000)).toEqual(recordCompletions(warm, 1, 500, 10_000));
    expect(recordSteadyCompletions(warm, 8, 1600, 10_000)).toEqual(recordCompletions(warm, 8, 1600, 10_000));
  });

  it('the steady rate still follows a session that really slows down', () => {
    const warm = steadily(initialRate(5, 2000), 20, 200, 10_000);
    // Ten times slower: clipped per sample, but it gets there.
    const slow = steadily(warm, 100, 2000, 10_000);
    expect(rateOf(slow)).toBeCloseTo(0.5, 1);
  });
});
