/**
 * tessera.pipeline in Node: a generated BERT-style encoder served by a local
 * hub look-alike (no manifest) and as a Tessera pack; feature-extraction with
 * mean pooling checked against onnxruntime-node on the same graph; reloads
 * read zero bytes from the network.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsCache } from '../../src/cache/fs-cache.ts';
import { pipeline } from '../../src/transport/hf-pipeline.ts';
import { isTesseraError } from '../../src/errors.ts';
import { packModel } from '../../src/pack/pack-model.ts';
import { HF_SENTENCES, referenceEmbeddings } from '../helpers/hf-fixtures.ts';
import { writeHfEncoder, type HfEncoder } from '../helpers/hf-model.ts';
import { startHfServer, type HfServer } from '../helpers/hf-server.ts';
import { startRangeServer, type RangeServer } from '../helpers/range-server.ts';

let root: string;
let enc: HfEncoder;
let hub: HfServer;
let packs: RangeServer;
let reference: number[][];

function expectClose(actual: { dims: number[]; data: Float32Array }, expected: number[][]): void {
  expect(actual.dims).toEqual([expected.length, enc.hidden]);
  let worst = 0;
  expected.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs((actual.data[i * enc.hidden + j] as number) - x)))));
  expect(worst).toBeLessThan(1e-4);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-hf-'));
  enc = await writeHfEncoder(join(root, 'tiny-bert'), { hidden: 32, heads: 4, layers: 2 });
  await packModel(enc.dir, { out: join(root, 'packs', 'tiny-bert'), chunkSize: 64 * 1024 });
  hub = await startHfServer({ repos: { 'test/tiny-bert': enc.dir } });
  packs = await startRangeServer({ root: join(root, 'packs') });
  reference = await referenceEmbeddings(enc, join(enc.dir, 'onnx', 'model.onnx'), HF_SENTENCES);
});

afterAll(async () => {
  await hub?.close();
  await packs?.close();
  await rm(root, { recursive: true, force: true });
});

describe('pipeline from a Hugging Face-style repository (no manifest)', () => {
  it('embeds like onnxruntime-node, then reloads with zero network bytes', async () => {
    const cache = createFsCache({ dir: join(root, 'cache-hub') });
    const options = { source: hub.url, cache, chunkSize: 64 * 1024, device: 'auto' as const };
    const embed = await pipeline('feature-extraction', 'test/tiny-bert', options);
    expect(embed.device).toBe('cpu');
    // The same choice and reason as a raw native session's.
    expect(embed.reason).toMatch(/^cpu: onnxruntime-node 1\.\d+\.\d+, \d+ threads?/);
    expectClose(await embed(HF_SENTENCES, { pooling: 'mean', normalize: true }), reference);
    const weightPath = '/test/tiny-bert/resolve/main/onnx/model.onnx';
    const cold = hub.stats();
    expect(cold.byPath[weightPath]!.bytes).toBeGreaterThan(enc.weightBytes);
    expect(cold.byPath[weightPath]!.requests).toBeGreaterThanOrEqual(3); // HEAD + >= 2 ranged chunks
    expect(embed.stats.chunksFetched).toBeGreaterThan(2);
    await embed.dispose();

    hub.resetStats();
    const again = await pipeline('feature-extraction', 'test/tiny-bert', options);
    expectClose(await again(HF_SENTENCES, { pooling: 'mean', normalize: true }), reference);
    expect(hub.stats().byPath[weightPath]).toBeUndefined();
    expect(hub.stats().bytes).toBe(0);
    expect(again.stats.bytesFromNetwork).toBe(0);
    await again.dispose();
  });

  it('rejects a file whose bytes do not match the SHA-256 the server reports', async () => {
    hub.corrupt('onnx/model.onnx');
    try {
      const cache = createFsCache({ dir: join(root, 'cache-corrupt') });
      const err = await pipeline('feature-extraction', 'test/tiny-bert', { source: hub.url, cache, chunkSize: 64 * 1024 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTesseraError(err, 'integrity-error')).toBe(true);
      expect((await cache.listModels()).some((m) => m.revision === 'file:onnx/model.onnx')).toBe(false);
    } finally {
      hub.corrupt(undefined);
    }
  });
});

describe('pipeline from a Tessera pack of the Hugging Face folder', () => {
  it('embeds like onnxruntime-node, then reloads with zero network bytes', async () => {
    const cache = createFsCache({ dir: join(root, 'cache-pack') });
    const source = `${packs.url}/tiny-bert/manifest.json`;
    const embed = await pipeline('feature-extraction', 'tiny-bert', { source, cache, device: 'wasm' });
    expectClose(await embed(HF_SENTENCES, { pooling: 'mean', normalize: true }), reference);
    expect(embed.stats.bytesFromNetwork).toBeGreaterThan(enc.weightBytes);
    await embed.dispose();

    packs.resetStats();
    const again = await pipeline('feature-extraction', 'tiny-bert', { source, cache, device: 'wasm' });
    expectClose(await again(HF_SENTENCES, { pooling: 'mean', normalize: true }), reference);
    const files = Object.keys(packs.stats().byPath).filter((p) => !p.endsWith('manifest.json'));
    expect(files).toEqual([]);
    expect(again.stats.bytesFromNetwork).toBe(0);
    await again.dispose();
  });

  it('says what to fix for a bad source or device', async () => {
    await expect(pipeline('feature-extraction', 'x', {} as never)).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(pipeline('feature-extraction', 'a/../b', { source: hub.url })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(pipeline('feature-extraction', 'test/tiny-bert', { source: hub.url, device: 'webgpu', cache: { type: 'memory' } })).rejects.toMatchObject({ code: 'device-unavailable' });
  });
});
