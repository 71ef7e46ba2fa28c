import { describe, expect, it } from 'vitest';
import { simulateCoordinator, type SimulatedSession } from './simulate-coordinator.ts';

// Sessions accept 4 batches at once but run one at a time, like a GPU session
// with a local queue; each claims 100 requests/s, so the slow one's prior is wrong
// and only the measured rate can find it out.
const equal: SimulatedSession = { serviceMs: 10, maxInFlight: 4, declaredRps: 100 };
const slow: SimulatedSession = { ...equal, serviceMs: 40 };
const noBatching = { maxBatch: 1, maxDelayMs: 0 };
const run = (sessions: SimulatedSession[], clients: number, config = {}) =>
  simulateCoordinator({ sessions, clients, durationMs: 30_000, warmupMs: 5_000, config: { ...noBatching, ...config } });

describe('coordinator simulation (fake clock, fixed service times, closed-loop clients)', () => {
  it('scales throughput at least 0.95 x n x single for 1, 2, 4, 8 equal sessions', () => {
    const single = run([equal], 2).throughput;
    expect(single).toBeGreaterThan(95);
    for (const n of [2, 4, 8]) {
      const r = run(Array.from({ length: n }, () => equal), 2 * n);
      expect(r.throughput / (n * single), `n=${n}`).toBeGreaterThanOrEqual(0.95);
      expect(r.errors).toEqual({});
    }
  });

  it('with one 4x slower session, least-expected-delay keeps >= 0.9 of summed capacity and round-robin does worse', () => {
    const capacity = 3 * 100 + 25;
    const fair = run([equal, equal, equal, slow], 4);
    const rr = run([equal, equal, equal, slow], 4, { policy: 'round-robin' });
    expect(fair.throughput / capacity).toBeGreaterThanOrEqual(0.9);
    // Round-robin parks every closed-loop client behind the slow session in turn.
    expect(rr.throughput).toBeLessThan(0.8 * fair.throughput);
    // The slow session gets proportionally less work, not an equal share.
    expect(fair.perSession[3]).toBeLessThan((fair.perSession[0] as number) / 3);

    // With enough clients to fill every slot all policies saturate, but
    // round-robin's queueing behind the slow session shows in the tail.
    const fair8 = run([equal, equal, equal, slow], 8);
    const rr8 = run([equal, equal, equal, slow], 8, { policy: 'round-robin' });
    expect(fair8.throughput / capacity).toBeGreaterThanOrEqual(0.9);
    expect(rr8.p99Ms).toBeGreaterThan(2 * fair8.p99Ms);
  });

  it('power-of-two choices also keeps the slow session from dragging the pool down', () => {
    const p2c = run([equal, equal, equal, slow], 8, { policy: 'power-of-two' });
    expect(p2c.throughput / 325).toBeGreaterThanOrEqual(0.9);
  });

  it('dynamic batching multiplies throughput when a batch costs the same as one request', () => {
    const batched = simulateCoordinator({
      sessions: [{ ...equal, maxBatch: 8 }], clients: 16, durationMs: 20_000, warmupMs: 2_000,
      config: { maxBatch: 8, maxDelayMs: 2 },
    });
    expect(batched.throughput).toBeGreaterThan(4 * 100);
    expect(batched.errors).toEqual({});
  });
});
