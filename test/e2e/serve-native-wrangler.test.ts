/**
 * `tessera serve` on native onnxruntime-node against the real Worker under
 * `wrangler dev`, with a short lease (2 s) so the timing matters:
 * - `--device cpu` joins and answers KServe v1 and OIP v2 with the reference outputs;
 * - a batch that computes for several leases keeps its session joined (compute
 *   runs in an engine child process; the socket's thread keeps heartbeating);
 * - a batch past `computeTimeoutMs` fails with `timeout`, the worker is
 *   replaced, and the same session answers the next request.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { serve, type ServeSession } from '../../src/cli/commands/serve.ts';
import type { SessionClientEvent } from '../../src/transport/session-client.ts';
import { buildFixtures, readExpected, type Fixtures } from '../helpers/fixtures.ts';
import { packSlowModel, SLOW_D } from '../helpers/slow-model.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const JOIN = 'native-join';
const KEY = 'native-key';
const ADMIN = 'native-admin';
const LEASE_MS = 2000;
let dev: WranglerDev;
let fixtures: Fixtures;
let work: string;
const sessions: ServeSession[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tessera-native-'));
  let slowDir: string;
  [fixtures, dev, slowDir] = await Promise.all([
    buildFixtures(),
    startWranglerDev({
      vars: {
        TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_ADMIN_TOKEN: ADMIN,
        TESSERA_COORDINATOR_CONFIG: JSON.stringify({ leaseMs: LEASE_MS, heartbeatMs: 400, maxDelayMs: 0, requestTimeoutMs: 60_000 }),
      },
    }),
    packSlowModel(work),
  ]);
  await publishDir(fixtures.packs.mlp.dir, { baseUrl: dev.base, token: ADMIN });
  await publishDir(slowDir, { baseUrl: dev.base, token: ADMIN });
}, 90_000);
// Each test's sessions leave the pool with it: one left joined after a failed
// assertion would take work from the next test's pool.
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await dev?.stop();
  await rm(work, { recursive: true, force: true });
});

const post = (path: string, body: unknown) => fetch(`${dev.base}${path}`, {
  method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
});
const slowInfer = (rows: number) => post('/v2/models/slow/infer', {
  inputs: [
    { name: 'x', shape: [1, SLOW_D], datatype: 'FP32', data: Array.from({ length: SLOW_D }, (_, i) => Math.sin(i)) },
    { name: 'rows', shape: [1, 1], datatype: 'INT64', data: [rows] },
  ],
});

async function start(models: string[], extra: { computeTimeoutMs?: number; device?: 'cpu' | 'wasm'; maxBatch?: number } = {}): Promise<{ session: ServeSession; events: SessionClientEvent[] }> {
  const events: SessionClientEvent[] = [];
  const session = await serve({
    coordinator: dev.base, models, joinToken: JOIN, device: 'cpu', maxBatch: 4,
    cache: { type: 'fs', dir: join(work, 'cache') }, onEvent: (e) => events.push(e), ...extra,
  });
  sessions.push(session);
  await session.joined();
  return { session, events };
}

describe('tessera serve --device cpu (onnxruntime-node) against wrangler dev', () => {
  it('joins on native cpu and answers KServe and OIP with the reference outputs', async () => {
    const { session } = await start(['mlp']);
    expect(session.device).toBe('cpu');
    expect(session.deviceReason).toMatch(/^cpu: onnxruntime-node 1\.\d+\.\d+, \d+ threads?, requested$/);
    expect(session.requestsPerSecond).toBeGreaterThan(0);

    const expected = await readExpected(fixtures.packs.mlp);
    const input = expected.inputs.input!;
    const output = expected.outputs.output!;
    const width = input.dims[1]!;
    const close = (got: number[]) => {
      expect(got).toHaveLength(output.data.length);
      // Native against the reference onnxruntime-node computed when packing: same library, same graph.
      const worst = Math.max(...got.map((v, i) => Math.abs(v - output.data[i]!) / (1e-3 + Math.abs(output.data[i]!))));
      expect(worst).toBeLessThan(1e-4);
    };
    const kserve = await post('/v1/models/mlp:predict', { instances: Array.from({ length: input.dims[0]! }, (_, i) => input.data.slice(i * width, (i + 1) * width)) });
    expect(kserve.status).toBe(200);
    close(((await kserve.json()) as { predictions: number[][] }).predictions.flat());

    const oip = await post('/v2/models/mlp/infer', { inputs: [{ name: 'input', shape: input.dims, datatype: 'FP32', data: input.data }] });
    expect(oip.status).toBe(200);
    const body = (await oip.json()) as { outputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
    expect(body.outputs[0]).toMatchObject({ name: 'output', shape: output.dims, datatype: 'FP32' });
    close(body.outputs[0]!.data);
    await session.close();
  }, 60_000);

  it('the CLI: `tessera serve --device cpu` prints its device and capacity, joins, and answers', async () => {
    const child = spawn(process.execPath, ['bin/tessera.js', 'serve', '--coordinator', dev.base, '--models', 'mlp', '--join-token', JOIN, '--device', 'cpu', '--max-batch', '4'], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: join(work, 'cli-cache') },
    });
    try {
      let err = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('joined ')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`tessera serve exited with ${code}: ${err}`)));
      });
      expect(err).toMatch(/^device cpu \(cpu: onnxruntime-node 1\.\d+\.\d+, \d+ threads?, requested\); declared capacity [\d.]+ requests\/s \(measured\)\njoined /);
      const input = (await readExpected(fixtures.packs.mlp)).inputs.input!;
      const res = await post('/v2/models/mlp/infer', { inputs: [{ name: 'input', shape: input.dims, datatype: 'FP32', data: input.data }] });
      expect(res.status).toBe(200);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 60_000);

  it('a batch that computes for several leases keeps its session joined', async () => {
    // On wasm: onnxruntime-web computes on the thread that runs it, so had the
    // session run it on its socket's thread, no heartbeat could go out.
    const { session, events } = await start(['slow'], { maxBatch: 1, device: 'wasm' });
    expect(session.device).toBe('wasm');
    const id = session.sessionId;
    // Calibrate on this machine, now (0.1-0.5 ms per row on wasm depending on
    // load; the probe overstates it by up to 2x, its fixed costs included):
    // size the batch to compute for about six 2 s leases.
    const probeStarted = performance.now();
    expect((await slowInfer(4_000)).status).toBe(200);
    const msPerRow = (performance.now() - probeStarted) / (4_000 + 1024);
    const rows = Math.min(300_000, Math.ceil((6 * LEASE_MS) / msPerRow));
    const started = performance.now();
    const res = await slowInfer(rows);
    const elapsed = performance.now() - started;
    expect(res.status).toBe(200);
    expect(elapsed).toBeGreaterThan(2 * LEASE_MS);
    const body = (await res.json()) as { outputs: { shape: number[] }[] };
    expect(body.outputs[0]!.shape).toEqual([1, SLOW_D]);
    // Never evicted: no disconnect, the same id, and the batch was sent once (no re-dispatch after an eviction).
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(events.filter((e) => e.type === 'infer')).toHaveLength(2); // the probe and the slow batch
    expect(session.sessionId).toBe(id);
    expect(session.state).toBe('joined');
    console.log(`slow batch: ${elapsed.toFixed(0)} ms with a ${LEASE_MS} ms lease on ${session.device}, session stayed joined`);
    await session.close();
  }, 90_000);

  it('a batch past the compute timeout fails with timeout, the worker is replaced, and the session serves on', async () => {
    const { session, events } = await start(['slow'], { maxBatch: 1, computeTimeoutMs: 1500 });
    const started = performance.now();
    const res = await slowInfer(100_000);
    const elapsed = performance.now() - started;
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('timeout');
    expect(body.error.message).toMatch(/compute took longer than 1500 ms.*--compute-timeout/);
    expect(elapsed).toBeLessThan(10_000);
    expect(session.restarts).toBe(1);
    const next = await slowInfer(1);
    expect(next.status).toBe(200);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(session.state).toBe('joined');
    await session.close();
  }, 90_000);

  it('a native and a wasm session in one pool: the native one declares more capacity and gets more of the work', async () => {
    const cpu = await start(['slow'], { maxBatch: 1, device: 'cpu' });
    const wasm = await start(['slow'], { maxBatch: 1, device: 'wasm' });
    expect(cpu.session.requestsPerSecond).toBeGreaterThan(1.3 * wasm.session.requestsPerSecond);
    // Four closed-loop clients, 4 requests each (2048 rows: ~0.3 s native, ~0.8 s wasm when the machine is quiet).
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 4; i++) {
        const res = await slowInfer(1024);
        expect(res.status, await res.clone().text()).toBe(200);
      }
    }));
    const served = (events: SessionClientEvent[]) => events.filter((e) => e.type === 'infer').length;
    expect(served(cpu.events) + served(wasm.events)).toBe(16);
    expect(served(cpu.events)).toBeGreaterThan(1.5 * served(wasm.events));
    console.log(`mixed pool: declared cpu ${cpu.session.requestsPerSecond} / wasm ${wasm.session.requestsPerSecond} requests/s; served cpu ${served(cpu.events)}, wasm ${served(wasm.events)}`);
    await Promise.all([cpu.session.close(), wasm.session.close()]);
  }, 90_000);
});
