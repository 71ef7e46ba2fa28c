/**
 * Prewarming in workerd: the real standby client (src/transport/standby-client.ts)
 * against the real directory object through the Worker's
 * `/v1/sessions/standby`, with the pools' summaries pushed to the directory
 * as a pool does. Default thresholds (sustainMs 3 s), so the ask takes a few
 * seconds. Join token `test-join-token` (vitest.config.ts).
 */
import { SELF, env } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import type { PoolSummary, DirectorySnapshot } from '../../src/coordinator/pool-summary.ts';
import { connectSession, type SessionClient } from '../../src/transport/session-client.ts';
import { connectStandby, type PrewarmRequest, type StandbyClient, type StandbyClientEvent } from '../../src/transport/standby-client.ts';
import { SelfWebSocket } from './self-websocket.ts';

const BASE = 'https://tessera.test';
const JOIN = 'test-join-token';
const closers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c.close()));
});

const directory = () => env.DIRECTORY.get(env.DIRECTORY.idFromName('directory'));
const pool = (model: string) => env.COORDINATOR.get(env.COORDINATOR.idFromName(`pool:${model}`));
const until = async (ok: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A published revision as the directory reads it for the model's size (worker/lib/keys.ts layout). */
async function publishManifest(name: string, revision: string, totalBytes: number): Promise<void> {
  await env.PACKS.put(`models/${name}/revisions/${revision}.json`, JSON.stringify({ format: 'tessera-pack', version: 1, name, revision, chunkSize: 8, kind: 'onnx', graphs: [], files: [], totalBytes }));
  await env.PACKS.put(`models/${name}/current`, revision);
}

function summary(model: string, revision: string, queueDepth: number): PoolSummary {
  return {
    pool: model, model, revision, at: Date.now(), queueDepth, queueWaitMs: (1000 * queueDepth) / 40, requestsPerSecond: 40, rateLimitedPerSecond: 0, deadlineMissesPerSecond: 0,
    sessions: [{ id: 'a', device: 'cpu', models: [model], inFlight: 1, throughput: 40, leaseAgeMs: 1 }],
    metrics: { sessions: 1, sessionsByModel: [], requests: [], queueDepth: [], inFlight: [], redispatched: 0, latency: [], compute: [], timeToFirstToken: [], generatedTokens: [] },
  };
}

function standby(load: (r: PrewarmRequest) => Promise<{ close(): Promise<void> }>, token = JOIN, events: StandbyClientEvent[] = []): StandbyClient {
  const client = connectStandby({
    url: BASE, token, device: 'test', budgetBytes: 10_000_000, models: 'all', load,
    WebSocket: SelfWebSocket, backoff: { baseMs: 10, maxMs: 50 }, onEvent: (e) => events.push(e),
  });
  closers.push(client);
  return client;
}

describe('standby sockets', () => {
  it('a pressured pool makes the directory ask an offering session, which joins the pool marked prewarmed', async () => {
    await publishManifest('pw', 'abcdef01', 5_000_000);
    const asked: PrewarmRequest[] = [];
    let prewarmed: SessionClient | undefined;
    const client = standby(async (request) => {
      asked.push(request);
      request.onProgress(2_500_000, 5_000_000);
      request.onProgress(5_000_000, 5_000_000);
      prewarmed = connectSession({
        url: `${BASE}/v1/sessions`, token: JOIN, device: 'test', prewarmed: true, capacity: { maxInFlight: 1, requestsPerSecond: 10 },
        models: [{ name: request.model, revision: request.revision, maxBatch: 1 }], runModel: async (_m, inputs) => inputs,
        WebSocket: SelfWebSocket, backoff: { baseMs: 10, maxMs: 50 },
      });
      closers.push(prewarmed);
      await prewarmed.joined();
      return prewarmed;
    });
    await client.standingBy();

    // A queue its one session drains in 2 s (80 at 40/s), reported about once a second as pools do.
    const started = Date.now();
    while (asked.length === 0 && Date.now() - started < 10_000) {
      await directory().report(summary('pw', 'abcdef01', 80));
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ model: 'pw', revision: 'abcdef01', bytes: 5_000_000 });
    // Not before the sustain window (3 s by default).
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);

    await until(async () => (await pool('pw').poolSummary())?.sessions.some((s) => s.prewarmed === true) ?? false, 'the prewarmed session in the pool summary');
    await until(async () => ((await directory().snapshot()) as DirectorySnapshot).prewarm.some((e) => e.type === 'ready'), 'the ready event');
    const snapshot = (await directory().snapshot()) as DirectorySnapshot;
    expect(snapshot.prewarm.filter((e) => e.model === 'pw').map((e) => e.type)).toEqual(['asked', 'progress', 'progress', 'ready']);
    expect(snapshot.prewarm[0]).toMatchObject({ type: 'asked', totalBytes: 5_000_000, reason: expect.stringMatching(/queue wait 2000 ms/) });
    expect(snapshot.prewarmMetrics).toMatchObject({ standbySessions: 1, budgetOfferedBytes: 10_000_000, budgetUsedBytes: 5_000_000, prewarmed: [{ model: 'pw', sessions: 1 }] });
    const metrics = await (await SELF.fetch(`${BASE}/metrics`, { headers: { Authorization: 'Bearer test-key-1' } })).text();
    expect(metrics).toContain('tessera_prewarm_events_total{model="pw",type="asked"} 1\n');
    expect(metrics).toContain('tessera_prewarm_budget_bytes{state="used"} 5000000\n');
  }, 30_000);

  it('refuses a wrong token with 4401 and an offer that is not first like a wrong token', async () => {
    const events: StandbyClientEvent[] = [];
    const client = standby(async () => ({ close: async () => undefined }), 'wrong-token', events);
    await expect(client.standingBy()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(events).toContainEqual({ type: 'disconnected', code: 4401, reason: 'unauthorized' });

    const res = await SELF.fetch(`${BASE}/v1/sessions/standby`, { headers: { Upgrade: 'websocket' } });
    const ws = res.webSocket!;
    ws.accept();
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
    const frames: string[] = [];
    ws.addEventListener('message', (e) => frames.push(e.data as string));
    ws.send(JSON.stringify({ type: 'heartbeat' }));
    expect(await closed).toBe(4401);
    expect(JSON.parse(frames[0]!)).toMatchObject({ type: 'error', error: { code: 'unauthorized' } });
  });

  it('answers 426 to a plain GET', async () => {
    const res = await SELF.fetch(`${BASE}/v1/sessions/standby`);
    expect(res.status).toBe(426);
  });
});
