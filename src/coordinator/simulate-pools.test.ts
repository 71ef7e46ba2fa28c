import { describe, expect, it } from 'vitest';
import { simulateCoordinator } from './simulate-coordinator.ts';
import { formatPoolsCapacity, simulatePools } from './simulate-pools.ts';

// Sessions far faster than the object (8 x 2 in flight x 1 ms), so the object's own cost is the limit.
const fast = Array.from({ length: 8 }, () => ({ serviceMs: 1, maxInFlight: 2, declaredRps: 2000 }));
const cost = { perRequestMs: 0.4, perBatchMs: 0.1 };
const config = { maxBatch: 1, maxDelayMs: 0 };

describe('one coordinator object as a single-threaded server', () => {
  it('caps throughput at 1000 / (per-request + per-batch ms) when sessions are faster', () => {
    const r = simulateCoordinator({ sessions: fast, clients: 32, durationMs: 3_000, warmupMs: 500, objectCost: cost, config });
    expect(r.throughput).toBeGreaterThan(0.9 * (1000 / 0.5));
    expect(r.throughput).toBeLessThanOrEqual(1.01 * (1000 / 0.5));
    expect(r.objectBusy).toBeGreaterThan(0.9);
    expect(r.errors).toEqual({});
  });

  it('with batching, the per-batch part is shared by the batch', () => {
    const one = simulateCoordinator({ sessions: fast.map((s) => ({ ...s, maxBatch: 8 })), clients: 64, durationMs: 3_000, warmupMs: 500, objectCost: { perRequestMs: 0.1, perBatchMs: 0.8 }, config: { maxBatch: 8, maxDelayMs: 1 } });
    // Unbatched it could not pass 1000 / 0.9 = 1111 req/s.
    expect(one.throughput).toBeGreaterThan(1.5 * 1111);
  });
});

describe('simulatePools', () => {
  it('n pools carry n times one pool; one object carrying n models stays at one pool', () => {
    const rows = simulatePools({ pools: [1, 4, 16], sessions: fast, clientsPerPool: 32, cost, durationMs: 2_000, warmupMs: 500, config });
    const [one, four, sixteen] = rows;
    expect(four!.perPool.throughput / one!.perPool.throughput).toBeCloseTo(4, 5);
    expect(sixteen!.perPool.throughput / one!.perPool.throughput).toBeCloseTo(16, 5);
    expect(four!.singleObject.throughput).toBeLessThan(1.05 * one!.singleObject.throughput);
    expect(sixteen!.singleObject.throughput).toBeLessThan(1.05 * one!.singleObject.throughput);
    expect(sixteen!.speedup).toBeGreaterThan(14);
    expect(sixteen!.directoryBusy).toBeCloseTo(16 * 0.4 / 1000, 9);
    const table = formatPoolsCapacity(rows, cost);
    expect(table[1]).toMatch(/^pools  single object/);
    expect(table).toHaveLength(rows.length + 3);
  });
});
