/**
 * Test-only: a session's `runModel` that echoes `x` as `y` after a delay the
 * request's own value chooses, or rejects at once with the signal's reason
 * when the coordinator cancels it. Tests of cancellation and overload use it
 * to hold a request for as long as they need without computing anything.
 */
import type { RunModel } from '../../src/transport/session-client.ts';

/** What a {@link slowEcho} model saw: runs started, runs cancelled, and each run's `x` in order. */
export interface SlowEchoStats {
  runs: number;
  aborted: number;
  values: number[];
}

/**
 * @example
 * const stats = { runs: 0, aborted: 0, values: [] };
 * connectSession({ ..., runModel: slowEcho((x) => (x === 3 ? 0 : 20_000), stats) });
 * // later: expect(stats.aborted).toBe(1); expect(stats.values).toEqual([1, 3]);
 */
export function slowEcho(ms: (x: number) => number, stats: SlowEchoStats = { runs: 0, aborted: 0, values: [] }): RunModel {
  return (_model, inputs, signal) => new Promise((resolve, reject) => {
    const x = (inputs.x!.data as Float32Array)[0]!;
    stats.runs += 1;
    stats.values.push(x);
    const timer = setTimeout(() => resolve({ y: inputs.x! }), ms(x));
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      stats.aborted += 1;
      reject(signal.reason);
    }, { once: true });
  });
}
