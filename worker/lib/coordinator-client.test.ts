/** Pool naming and TESSERA_POOL_LOCATIONS validation (pure; the routing itself is tested in workerd: test/worker/pools.test.ts). */
import { describe, expect, it } from 'vitest';
import { modelsOf, poolLocations, poolName } from './coordinator-client.ts';
import type { PoolSummary } from '../../src/coordinator/pool-summary.ts';

describe('poolLocations', () => {
  it('reads a JSON object of model -> location hint, and nothing when unset', () => {
    expect(poolLocations(undefined)).toEqual({});
    expect(poolLocations('  ')).toEqual({});
    expect(poolLocations('{"llama":"weur","ocr":"apac-ne"}')).toEqual({ llama: 'weur', ocr: 'apac-ne' });
  });

  it('refuses what is not an object of known hints, naming the bad entry', () => {
    expect(() => poolLocations('{llama')).toThrow(/TESSERA_POOL_LOCATIONS is not valid JSON/);
    expect(() => poolLocations('["weur"]')).toThrow(/must be a JSON object/);
    expect(() => poolLocations('{"llama":"mars"}')).toThrow(/TESSERA_POOL_LOCATIONS\["llama"\] is "mars"; use one of wnam, enam/);
    expect(() => poolLocations('{"llama":3}')).toThrow(expect.objectContaining({ status: 500, code: 'invalid-argument' }));
  });
});

describe('pool names and the model list', () => {
  it('names a pool after its model', () => {
    expect(poolName('mlp')).toBe('pool:mlp');
  });

  it('lists pools that have sessions and an offer, once per model', () => {
    const pool = (name: string, model: string, sessions: number): PoolSummary => ({
      pool: name, model, at: 0, queueDepth: 0, queueWaitMs: 0, requestsPerSecond: 0, rateLimitedPerSecond: 0, deadlineMissesPerSecond: 0,
      offer: { name: model, revision: 'r1', maxBatch: 1 },
      sessions: Array.from({ length: sessions }, (_, i) => ({ id: `${name}-${i}`, device: 'x', models: [model], inFlight: 0, throughput: 0, leaseAgeMs: 0 })),
      metrics: { sessions, sessionsByModel: [], requests: [], queueDepth: [], inFlight: [], redispatched: 0, latency: [], compute: [], timeToFirstToken: [], generatedTokens: [] },
    });
    expect(modelsOf({ pools: [pool('b', 'b', 1), pool('a', 'a', 2), pool('empty', 'empty', 0), pool('b@1', 'b', 3)] })).toEqual([
      { name: 'a', revision: 'r1', maxBatch: 1, sessions: 2 },
      { name: 'b', revision: 'r1', maxBatch: 1, sessions: 4 },
    ]);
  });
});
