import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { buildFixtures, readExpected } from '../helpers/fixtures.ts';

describe('buildFixtures', () => {
  it('builds mlp, mlp-v2 and block packs with reference outputs; v2 shares most chunks', async () => {
    const fixtures = await buildFixtures();
    const load = async (name: keyof typeof fixtures.packs) => JSON.parse(await readFile(fixtures.packs[name].manifestPath, 'utf8')) as PackManifest;
    const mlp = await load('mlp');
    const v2 = await load('mlp-v2');
    expect(mlp.chunkSize).toBe(256 * 1024);
    expect(mlp.files.find((f) => f.role === 'external-data')!.chunks.length).toBeGreaterThan(8);
    expect(mlp.files.some((f) => f.path === 'expected.json')).toBe(false);
    expect(v2.name).toBe(mlp.name);
    expect(v2.revision).not.toBe(mlp.revision);
    const mlpChunks = new Set(mlp.files.flatMap((f) => f.chunks));
    const v2Chunks = v2.files.flatMap((f) => f.chunks);
    const shared = v2Chunks.filter((c) => mlpChunks.has(c)).length;
    expect(shared / v2Chunks.length).toBeGreaterThan(0.5);
    expect(shared).toBeLessThan(v2Chunks.length);

    // expected.json reproduces with the packed files.
    for (const name of ['mlp', 'block'] as const) {
      const pack = fixtures.packs[name];
      const expected = await readExpected(pack);
      const input = expected.inputs.input!;
      const session = await ort.InferenceSession.create(join(pack.dir, 'model.onnx'));
      const out = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(input.data), input.dims) })).output!;
      await session.release();
      expect(out.dims).toEqual(expected.outputs.output!.dims);
      const data = out.data as Float32Array;
      expected.outputs.output!.data.forEach((v, i) => expect(Math.abs((data[i] as number) - v)).toBeLessThan(1e-5));
    }
    // A second call reuses the packs.
    expect((await buildFixtures()).packs.mlp.revision).toBe(fixtures.packs.mlp.revision);
  });
});
