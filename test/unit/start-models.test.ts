import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateModelFile } from '../../src/cli/generate-model.ts';
import { modelArgs, prepareUserModel } from '../../scripts/lib/user-models.ts';

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm start --model', () => {
  it('reads repeatable --model flags and refuses anything else', () => {
    expect(modelArgs([])).toEqual([]);
    expect(modelArgs(['--model', 'a.onnx', '--model=hf/'])).toEqual(['a.onnx', 'hf/']);
    expect(modelArgs(['--device', 'cpu', '--model', 'a.onnx', '--device=wasm'])).toEqual(['a.onnx']);
    expect(() => modelArgs(['--model'])).toThrow(/--model needs a path/);
    expect(() => modelArgs(['--modle', 'x'])).toThrow(/unknown argument "--modle"/);
  });

  it('packs an .onnx file once, reuses the pack while the file is unchanged, and takes a pack as is', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-user-models-'));
    const onnx = join(dir, 'tiny mlp.onnx');
    await generateModelFile({ kind: 'matmul-chain', sizeBytes: 16 * 1024, seed: 1, layers: 2 }, onnx, {});
    const first = await prepareUserModel(onnx, join(dir, 'state'));
    expect(first).toMatchObject({ name: 'tiny-mlp', built: true, generation: false, packDir: join(dir, 'state', 'packs', 'tiny-mlp') });
    const again = await prepareUserModel(onnx, join(dir, 'state'));
    expect(again.built).toBe(false);
    expect(again.manifest.revision).toBe(first.manifest.revision);
    const asPack = await prepareUserModel(first.packDir, join(dir, 'other-state'));
    expect(asPack).toMatchObject({ name: 'tiny-mlp', built: false, packDir: first.packDir });
    await expect(prepareUserModel(join(dir, 'missing.onnx'), dir)).rejects.toThrow(/no such file or folder/);
  });
});
