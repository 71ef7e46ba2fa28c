/**
 * `tessera serve` with a real engine, end to end: the `mlp` fixture pack is
 * published to the real Worker under `wrangler dev` (src/pack/publish.ts via
 * publishDir), a serve session loads it from that Worker's R2 (ranged GETs,
 * verified chunks) and joins its coordinator, and a KServe predict through the
 * Worker returns what onnxruntime-node computed for the same input
 * (expected.json).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { serve } from '../../src/cli/commands/serve.ts';
import type { SessionClient } from '../../src/transport/session-client.ts';
import { buildFixtures, readExpected, type Fixtures } from '../helpers/fixtures.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const JOIN = 'serve-test-join';
const KEY = 'serve-test-key';
const ADMIN = 'serve-test-admin';
let dev: WranglerDev;
let fixtures: Fixtures;
let session: SessionClient | undefined;

beforeAll(async () => {
  [fixtures, dev] = await Promise.all([
    buildFixtures(),
    startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_ADMIN_TOKEN: ADMIN } }),
  ]);
}, 60_000);
afterAll(async () => {
  await session?.close();
  await dev?.stop();
});

describe('tessera serve with a real engine against wrangler dev', () => {
  it('loads a published pack from the Worker, joins, and answers a KServe predict with the reference outputs', async () => {
    const pack = fixtures.packs.mlp;
    const published = await publishDir(pack.dir, { baseUrl: dev.base, token: ADMIN });
    expect(published).toMatchObject({ name: 'mlp', revision: pack.revision });

    session = await serve({ coordinator: dev.base, models: ['mlp'], joinToken: JOIN, maxBatch: 4 });
    await session.joined();

    const expected = await readExpected(pack);
    const [inputName, input] = Object.entries(expected.inputs)[0]!;
    const [, output] = Object.entries(expected.outputs)[0]!;
    expect(Object.keys(expected.inputs)).toEqual([inputName]);
    const width = input.dims[1]!;
    const instances = Array.from({ length: input.dims[0]! }, (_, i) => input.data.slice(i * width, (i + 1) * width));

    const res = await fetch(`${dev.base}/v1/models/mlp:predict`, {
      method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ instances }),
    });
    expect(res.status).toBe(200);
    const { predictions } = (await res.json()) as { predictions: number[][] };
    expect(predictions).toHaveLength(output.dims[0]!);
    const got = predictions.flat();
    expect(got).toHaveLength(output.data.length);
    // onnxruntime-web (wasm) against onnxruntime-node: same graph, float32 sums in another order.
    const worst = Math.max(...got.map((v, i) => Math.abs(v - output.data[i]!) / (1e-3 + Math.abs(output.data[i]!))));
    expect(worst).toBeLessThan(1e-3);
  }, 30_000);
});
