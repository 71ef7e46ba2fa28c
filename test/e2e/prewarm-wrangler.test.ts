/**
 * Demand-driven prewarming end to end, on the real Worker under `wrangler
 * dev`: the `mlp` fixture pack (3 MiB) is published, session A serves it
 * (one batch at a time), session B serves nothing and only offers to load
 * models (`tessera serve --prewarm all --prewarm-budget 64MiB`, in process).
 * A burst of closed-loop clients on `mlp` queues requests in its pool; the
 * pool's summaries reach the directory, whose policy asks B to load `mlp`;
 * B loads it from the Worker's R2 through the normal loader (verified
 * chunks), joins the pool marked prewarmed, and answers part of the burst.
 * When the burst ends, the idle TTL unloads it again. `/metrics` counts each
 * step. Thresholds are shortened through TESSERA_PREWARM_CONFIG so the test
 * takes seconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { serve, type ServeSession } from '../../src/cli/commands/serve.ts';
import { startNodeStandby } from '../../src/cli/commands/serve-prewarm.ts';
import type { StandbyClient, StandbyClientEvent } from '../../src/transport/standby-client.ts';
import { buildFixtures, readExpected, type Fixtures } from '../helpers/fixtures.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const JOIN = 'prewarm-test-join';
const KEY = 'prewarm-test-key';
const ADMIN = 'prewarm-test-admin';
const PREWARM_CONFIG = { sustainMs: 1_000, loadQueueWaitMs: 30, unloadQueueWaitMs: 5, idleTtlMs: 3_000, minResidenceMs: 2_000, askTimeoutMs: 60_000 };

let dev: WranglerDev;
let fixtures: Fixtures;
let cacheDir: string;
let sessionA: ServeSession | undefined;
let standby: StandbyClient | undefined;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'tessera-prewarm-'));
  [fixtures, dev] = await Promise.all([
    buildFixtures(),
    startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_ADMIN_TOKEN: ADMIN, TESSERA_PREWARM_CONFIG: JSON.stringify(PREWARM_CONFIG) } }),
  ]);
}, 120_000);
afterAll(async () => {
  await standby?.close();
  await sessionA?.close();
  await dev?.stop();
  await rm(cacheDir, { recursive: true, force: true });
});

const until = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${dev.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('prewarming against wrangler dev', () => {
  it('a burst on a model one session serves makes an offering session load it, take part of the load, and unload it when idle', async () => {
    const pack = fixtures.packs.mlp;
    await publishDir(pack.dir, { baseUrl: dev.base, token: ADMIN });
    const expected = await readExpected(pack);
    const [inputName, input] = Object.entries(expected.inputs)[0]!;
    const width = input.dims[1]!;
    const body = JSON.stringify({ inputs: [{ name: inputName, shape: [1, width], datatype: 'FP32', data: input.data.slice(0, width) }] });

    // Separate caches: B's load really streams the pack from the Worker's R2.
    sessionA = await serve({ coordinator: dev.base, models: ['mlp'], joinToken: JOIN, maxBatch: 1, maxInFlight: 1, device: 'cpu', threads: 1, cache: { type: 'fs', dir: join(cacheDir, 'a') } });
    await sessionA.joined();

    const events: (StandbyClientEvent & { at: number })[] = [];
    let servedByB = 0;
    let bJoined = false;
    standby = startNodeStandby({
      serve: { coordinator: dev.base, models: [], joinToken: JOIN, maxBatch: 1, maxInFlight: 1, device: 'cpu', threads: 1, cache: { type: 'fs', dir: join(cacheDir, 'b') } },
      serveFn: serve, models: 'all', budgetBytes: 64 * 1024 * 1024, device: 'cpu',
      onEvent: (e) => events.push({ ...e, at: Date.now() }),
      onSessionEvent: (model, e) => {
        expect(model).toBe('mlp');
        if (e.type === 'joined') bJoined = true;
        if (e.type === 'infer') servedByB += e.requestIds.length;
      },
    });
    await standby.standingBy();
    // Nothing is asked while the pool is quiet.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(events.map((e) => e.type)).toEqual(['standing-by']);

    // The burst: closed loops until B has answered a share (or 60 s pass).
    const statuses = new Map<number, number>();
    let stop = false;
    const loop = async (): Promise<void> => {
      while (!stop) {
        const res = await fetch(`${dev.base}/v2/models/mlp/infer`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    const loops = Array.from({ length: 48 }, loop);
    try {
      await until('the prewarmed session to serve 20 requests', () => servedByB >= 20, 60_000);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(bJoined).toBe(true);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['standing-by', 'prewarm', 'ready']);
    expect(events[1]).toMatchObject({ type: 'prewarm', model: 'mlp', revision: pack.revision });
    expect(standby.loaded).toEqual([{ model: 'mlp', revision: pack.revision, bytes: expect.any(Number) }]);
    // Every request of the burst was answered; none was lost to the new session joining.
    expect([...statuses.keys()]).toEqual([200]);
    expect(servedByB).toBeGreaterThanOrEqual(20);

    // Idle: unloaded after the TTL (and the minimum residence), never re-asked.
    await until('the idle unload', () => events.some((e) => e.type === 'unloaded'), 30_000);
    expect(events.filter((e) => e.type === 'prewarm')).toHaveLength(1);
    expect(standby.loaded).toEqual([]);
    expect(standby.usedBytes).toBe(0);

    const metrics = await (await fetch(`${dev.base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).text();
    expect(metrics).toMatch(/tessera_prewarm_events_total\{model="mlp",type="asked"\} 1\n/);
    expect(metrics).toMatch(/tessera_prewarm_events_total\{model="mlp",type="ready"\} 1\n/);
    expect(metrics).toMatch(/tessera_prewarm_events_total\{model="mlp",type="unload"\} 1\n/);
    expect(metrics).toMatch(/tessera_prewarm_events_total\{model="mlp",type="progress"\} [1-9]/);
    expect(metrics).toMatch(/tessera_prewarm_standby_sessions 1\n/);
    expect(metrics).toMatch(/tessera_prewarm_budget_bytes\{state="offered"\} 67108864\n/);
    expect(metrics).toMatch(/tessera_prewarm_budget_bytes\{state="used"\} 0\n/);
  }, 150_000);

  it('refuses a standby socket with a wrong token (4401), like a pool socket', async () => {
    const refused: StandbyClientEvent[] = [];
    const client = startNodeStandby({
      serve: { coordinator: dev.base, models: [], joinToken: 'wrong', device: 'cpu' }, serveFn: serve,
      models: 'all', budgetBytes: 1024, device: 'cpu', onEvent: (e) => refused.push(e),
    });
    await expect(client.standingBy()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(refused).toContainEqual({ type: 'disconnected', code: 4401, reason: 'unauthorized' });
    expect(client.state).toBe('closed');
  }, 30_000);
});
