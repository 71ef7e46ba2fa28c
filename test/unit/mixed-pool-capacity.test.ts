/**
 * Why sessions declare measured capacity: one native session (3x faster) and
 * one wasm session in a pool, driven by closed-loop clients through the pure
 * coordinator (fake clock). With each declaring what its warm-up measured
 * (`tessera serve` does; src/cli/measure-capacity.ts), routing gives the native
 * session proportionally more work and the pool reaches at least 0.9 of the
 * summed capacity. The real pool is checked in test/e2e/serve-native-wrangler.test.ts
 * and measured by `npm run bench:serve`.
 */
import { describe, expect, it } from 'vitest';
import { simulateCoordinator, type SimulatedSession } from '../../src/coordinator/simulate-coordinator.ts';

// PP-OCRv4 on this machine's 2 cores: roughly 3x between native cpu and wasm (issue 11's table).
const native: SimulatedSession = { serviceMs: 100, maxInFlight: 2, declaredRps: 10 };
const wasm: SimulatedSession = { serviceMs: 300, maxInFlight: 2, declaredRps: 1000 / 300 };
const capacity = 10 + 1000 / 300;
const config = { maxBatch: 1, maxDelayMs: 0 };

describe('a mixed pool of one native and one wasm session', () => {
  it('routes by declared-then-measured capacity: >= 0.9 of the summed capacity, work in proportion to speed', () => {
    const r = simulateCoordinator({ sessions: [native, wasm], clients: 4, durationMs: 30_000, warmupMs: 2_000, config });
    expect(r.errors).toEqual({});
    expect(r.throughput / capacity).toBeGreaterThanOrEqual(0.9);
    const [n, w] = r.perSession as [number, number];
    expect(n / w).toBeGreaterThan(2);
    expect(n / w).toBeLessThan(4.5);
  });

});
