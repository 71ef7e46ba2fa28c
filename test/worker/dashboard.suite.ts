/**
 * `/dashboard/events` in workerd, relaying the real directory object's feed:
 * a summary reported to the directory reaches an open SSE stream as it
 * arrives, after the snapshot.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { DirectoryFeedEvent, PoolSummary } from '../../src/coordinator/pool-summary.ts';
import { BASE, TOKEN } from './fixtures.ts';

function summary(at: number, requestsPerSecond: number): PoolSummary {
  return {
    pool: 'dash-mlp',
    model: 'dash-mlp',
    at,
    sessions: [{ id: 'dash-s1', device: 'cpu', models: ['dash-mlp'], inFlight: 1, throughput: requestsPerSecond, leaseAgeMs: 1000 }],
    queueDepth: 0, queueWaitMs: 0,
    requestsPerSecond,
    rateLimitedPerSecond: 0,
    deadlineMissesPerSecond: 0,
    metrics: { sessions: 1, sessionsByModel: [], requests: [], queueDepth: [], inFlight: [], redispatched: 0, latency: [], compute: [], timeToFirstToken: [], generatedTokens: [] },
  };
}

/** SSE `data:` payloads as feed events, read until `count` have arrived. */
async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number, buffer: { text: string }): Promise<DirectoryFeedEvent[]> {
  const decoder = new TextDecoder();
  for (;;) {
    const blocks = buffer.text.split('\n\n').slice(0, -1).filter((b) => b.startsWith('data: '));
    if (blocks.length >= count) return blocks.slice(0, count).map((b) => JSON.parse(b.slice('data: '.length)) as DirectoryFeedEvent);
    const { done, value } = await reader.read();
    if (done) throw new Error(`the stream ended after ${JSON.stringify(buffer.text)}`);
    buffer.text += decoder.decode(value, { stream: true });
  }
}

export function dashboardSuite(): void {
  describe('dashboard feed', () => {
    it('refuses an inference key; with the admin token relays the directory snapshot, then each reported summary', async () => {
      const refused = await SELF.fetch(`${BASE}/dashboard/events`, { headers: { Authorization: 'Bearer test-key-1' } });
      expect(refused.status).toBe(401);
      await refused.arrayBuffer();

      const directory = env.DIRECTORY.get(env.DIRECTORY.idFromName('directory'));
      await directory.report(summary(Date.now(), 3));
      const res = await SELF.fetch(`${BASE}/dashboard/events`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toMatch(/^text\/event-stream/);
      const reader = res.body!.getReader();
      const buffer = { text: '' };
      const [first] = await readEvents(reader, 1, buffer);
      expect(first?.type).toBe('snapshot');
      if (first?.type !== 'snapshot') return;
      expect(first.snapshot.pools.find((p) => p.pool === 'dash-mlp')?.requestsPerSecond).toBe(3);

      await directory.report(summary(Date.now() + 1, 7));
      const events = await readEvents(reader, 2, buffer);
      expect(events[1]).toMatchObject({ type: 'pool', summary: { pool: 'dash-mlp', requestsPerSecond: 7 } });
      await reader.cancel();

      const snapshot = await SELF.fetch(`${BASE}/dashboard/snapshot`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(((await snapshot.json()) as { pools: PoolSummary[] }).pools.find((p) => p.pool === 'dash-mlp')?.requestsPerSecond).toBe(7);
    });
  });
}
