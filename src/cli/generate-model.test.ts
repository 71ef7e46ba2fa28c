import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModel, generateModelFile } from './generate-model.ts';
import { matmulChainReference, matmulChainWeights } from '../pack/generate/matmul-chain.ts';
import { randomFloats } from '../pack/generate/seeded-random.ts';
import { encodeModel } from '../pack/onnx-model.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-gen-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('generateModel', () => {
  it('matmul-chain hits the target size and matches the JS reference in ONNX Runtime', async () => {
    const sizeBytes = 2 * 1024 * 1024;
    const { files, shape } = await generateModelFile({ kind: 'matmul-chain', sizeBytes, seed: 11, layers: 3 }, join(dir, 'chain.onnx'), { externalData: true });
    const data = (await stat(files[1]!)).size;
    expect(data).toBeGreaterThan(sizeBytes * 0.9);
    expect(data).toBeLessThanOrEqual(sizeBytes + 64 * 1024);
    const batch = 3;
    const input = randomFloats(batch * shape.d, 5, 1);
    const session = await ort.InferenceSession.create(files[0]!);
    const out = (await session.run({ input: new ort.Tensor('float32', input, [batch, shape.d]) })).output!;
    await session.release();
    expect(out.dims).toEqual([batch, shape.d]);
    const expected = matmulChainReference(matmulChainWeights({ d: shape.d, layers: 3, seed: 11 }), input, batch);
    const actual = out.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
    expect(worst).toBeLessThan(1e-4);
    // Not trivially zero: the chain carries signal to the output.
    expect(actual.some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });

  it('transformer-block runs in ONNX Runtime with finite outputs of the right shape', async () => {
    const { files, shape } = await generateModelFile({ kind: 'transformer-block', sizeBytes: 1024 * 1024, seed: 4 }, join(dir, 'block.onnx'));
    const session = await ort.InferenceSession.create(files[0]!);
    const x = randomFloats(2 * 5 * shape.d, 1, 1);
    const out = (await session.run({ input: new ort.Tensor('float32', x, [2, 5, shape.d]) })).output!;
    await session.release();
    expect(out.dims).toEqual([2, 5, shape.d]);
    const data = out.data as Float32Array;
    expect(data.every(Number.isFinite)).toBe(true);
    expect(new Set(data).size).toBeGreaterThan(data.length / 2);
  });

  it('is deterministic per seed and changes only overridden layers', () => {
    const a = encodeModel(generateModel({ kind: 'matmul-chain', sizeBytes: 64 * 1024, seed: 3 }).model);
    const b = encodeModel(generateModel({ kind: 'matmul-chain', sizeBytes: 64 * 1024, seed: 3 }).model);
    const c = encodeModel(generateModel({ kind: 'matmul-chain', sizeBytes: 64 * 1024, seed: 4 }).model);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    const base = matmulChainWeights({ d: 16, layers: 3, seed: 3 });
    const changed = matmulChainWeights({ d: 16, layers: 3, seed: 3, layerSeeds: { 2: 77 } });
    expect(changed[0]!.weight).toEqual(base[0]!.weight);
    expect(changed[2]!.weight).not.toEqual(base[2]!.weight);
  });
});
