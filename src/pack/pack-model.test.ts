import { mkdtemp, readFile, readdir, rm, writeFile, copyFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { matmulChainModel, matmulChainReference, matmulChainWeights } from './generate/matmul-chain.ts';
import { transformerBlockModel } from './generate/transformer-block.ts';
import type { PackManifest } from './manifest.ts';
import { decodeModel, encodeModel, externalDataEntries } from './onnx-model.ts';
import { packModel, type PackProgress } from './pack-model.ts';
import { sha256Hex } from './sha256.ts';
import { writeModel } from './write-model.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-pack-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MLP = { d: 96, layers: 3, seed: 5 };
const input = new Float32Array(2 * MLP.d).map((_, i) => Math.sin(i * 0.37));

async function runMlp(modelPath: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelPath);
  const out = await session.run({ input: new ort.Tensor('float32', input, [2, MLP.d]) });
  await session.release();
  return out.output!.data as Float32Array;
}

function expectClose(actual: Float32Array, expected: Float32Array) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  expect(worst).toBeLessThan(1e-4);
}

async function readManifest(out: string): Promise<PackManifest> {
  return JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as PackManifest;
}

async function expectInvalidModel(promise: Promise<unknown>, pattern: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isTesseraError(error, 'invalid-model'), String(error)).toBe(true);
  expect((error as Error).message).toMatch(pattern);
}

describe('packModel', () => {
  const reference = () => matmulChainReference(matmulChainWeights(MLP), input, 2);

  it('externalizes an inline-weights model; outputs unchanged; chunk hashes correct', async () => {
    const src = join(dir, 'inline.onnx');
    await writeModel(matmulChainModel(MLP), src);
    const out = join(dir, 'inline-pack');
    const events: PackProgress[] = [];
    const { manifest } = await packModel(src, { out, chunkSize: 16 * 1024, onProgress: (p) => events.push(p) });
    expect(manifest.kind).toBe('onnx');
    expect(manifest.name).toBe('inline');
    expect(manifest.graphs).toEqual([{ path: 'inline.onnx', externalData: ['inline.onnx.data'] }]);
    expect(manifest.files.map((f) => [f.path, f.role])).toEqual([
      ['inline.onnx', 'graph'],
      ['inline.onnx.data', 'external-data'],
    ]);
    expect(await readManifest(out)).toEqual(manifest);
    expect(await readFile(join(out, 'manifest.json'), 'utf8')).toMatch(/^\{\n  "format": "tessera-pack",[\s\S]*\}\n$/);
    // Every file and chunk hash matches the bytes on disk.
    for (const file of manifest.files) {
      const bytes = new Uint8Array(await readFile(join(out, file.path)));
      expect(bytes.byteLength).toBe(file.size);
      expect(await sha256Hex(bytes)).toBe(file.sha256);
      expect(file.chunks).toHaveLength(Math.ceil(file.size / manifest.chunkSize));
      for (let i = 0; i < file.chunks.length; i++) {
        expect(await sha256Hex(bytes.subarray(i * manifest.chunkSize, (i + 1) * manifest.chunkSize))).toBe(file.chunks[i]);
      }
    }
    expect(manifest.totalBytes).toBe(manifest.files.reduce((n, f) => n + f.size, 0));
    expectClose(await runMlp(join(out, 'inline.onnx')), reference());
    expectClose(await runMlp(src), reference());
    const last = events.at(-1)!;
    expect(last.bytesDone).toBe(manifest.totalBytes);
    expect(last.bytesTotal).toBe(manifest.totalBytes);
  });

  it('packs the same input twice to byte-identical output', async () => {
    const src = join(dir, 'twice.onnx');
    await writeModel(matmulChainModel(MLP), src, { externalData: true });
    const a = join(dir, 'twice-a');
    const b = join(dir, 'twice-b');
    await packModel(src, { out: a, chunkSize: 8192 });
    await packModel(src, { out: b, chunkSize: 8192 });
    const names = (await readdir(a)).sort();
    expect(names).toEqual((await readdir(b)).sort());
    for (const name of names) expect((await readFile(join(a, name))).equals(await readFile(join(b, name)))).toBe(true);
  });

  it('splits external data at a small maxFileSize; ONNX Runtime outputs unchanged; repacking a pack re-lays it out', async () => {
    const src = join(dir, 'split.onnx');
    await writeModel(matmulChainModel(MLP), src, { externalData: true });
    const out = join(dir, 'split-pack');
    const maxFileSize = 48 * 1024; // each weight is 36 KiB: one layer per file
    const { manifest } = await packModel(src, { out, chunkSize: 4096, maxFileSize });
    const data = manifest.files.filter((f) => f.role === 'external-data');
    expect(data.map((f) => f.path)).toEqual(['split.onnx.1.data', 'split.onnx.2.data', 'split.onnx.data']);
    expect(manifest.graphs[0]!.externalData).toEqual(['split.onnx.data', 'split.onnx.1.data', 'split.onnx.2.data']);
    for (const f of data) expect(f.size).toBeLessThanOrEqual(maxFileSize);
    const graph = decodeModel(await readFile(join(out, 'split.onnx')));
    const locations = graph.graph!.initializer!.filter((t) => t.data_location === 1).map((t) => externalDataEntries(t).get('location'));
    expect(new Set(locations)).toEqual(new Set(['split.onnx.data', 'split.onnx.1.data', 'split.onnx.2.data']));
    expectClose(await runMlp(join(out, 'split.onnx')), reference());

    // Re-packing the split pack into one file gives the same weights back.
    const merged = join(dir, 'merged-pack');
    const again = await packModel(join(out, 'split.onnx'), { out: merged, chunkSize: 4096 });
    expect(again.manifest.graphs[0]!.externalData).toEqual(['split.onnx.data']);
    expectClose(await runMlp(join(merged, 'split.onnx')), reference());
  });

  it('re-lays out external data written by ONNX Runtime itself', async () => {
    const src = join(dir, 'ort-src.onnx');
    await writeModel(transformerBlockModel({ d: 64, heads: 4, seed: 2 }), src);
    const saved = join(dir, 'ort-saved');
    await rm(saved, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(saved);
    const session = await ort.InferenceSession.create(src, {
      graphOptimizationLevel: 'basic',
      optimizedModelFilePath: join(saved, 'model.onnx'),
      extra: { session: { optimized_model_external_initializers_file_name: 'weights.bin', optimized_model_external_initializers_min_size_in_bytes: '256' } },
    } as ort.InferenceSession.SessionOptions);
    await session.release();
    expect((await stat(join(saved, 'weights.bin'))).size).toBeGreaterThan(0);
    const out = join(dir, 'ort-pack');
    const { manifest } = await packModel(join(saved, 'model.onnx'), { out, chunkSize: 64 * 1024 });
    expect(manifest.graphs[0]!.externalData).toEqual(['model.onnx.data']);
    const x = new Float32Array(2 * 3 * 64).map((_, i) => Math.cos(i));
    const run = async (path: string) => {
      const s = await ort.InferenceSession.create(path);
      const o = await s.run({ input: new ort.Tensor('float32', x, [2, 3, 64]) });
      await s.release();
      return o.output!.data as Float32Array;
    };
    expectClose(await run(join(out, 'model.onnx')), await run(src));
  });

  it('packs a Hugging Face-style folder with roles', async () => {
    const hf = join(dir, 'hf-model');
    await (await import('node:fs/promises')).mkdir(join(hf, 'onnx'), { recursive: true });
    await writeFile(join(hf, 'config.json'), '{"model_type":"mlp"}\n');
    await writeFile(join(hf, 'tokenizer.json'), '{}\n');
    await writeFile(join(hf, 'tokenizer_config.json'), '{}\n');
    await writeFile(join(hf, 'README.md'), '# model\n');
    await writeFile(join(hf, '.gitattributes'), '*.onnx filter=lfs\n');
    await writeModel(matmulChainModel(MLP), join(hf, 'onnx', 'model.onnx'), { externalData: true });
    await copyFile(join(hf, 'onnx', 'model.onnx.data'), join(hf, 'onnx', 'model.onnx_data.bak'));
    const out = join(dir, 'hf-pack');
    const events: PackProgress[] = [];
    const { manifest } = await packModel(hf, { out, chunkSize: 64 * 1024, onProgress: (p) => events.push(p) });
    // The estimate's data file (counted at the start) is replaced by what was written for it: the total ends exact.
    expect(events.at(-1)).toMatchObject({ bytesDone: manifest.totalBytes, bytesTotal: manifest.totalBytes });
    expect(manifest.kind).toBe('hf');
    expect(manifest.name).toBe('hf-model');
    expect(Object.fromEntries(manifest.files.map((f) => [f.path, f.role]))).toEqual({
      'README.md': 'other',
      'config.json': 'config',
      'onnx/model.onnx': 'graph',
      'onnx/model.onnx.data': 'external-data',
      'onnx/model.onnx_data.bak': 'other',
      'tokenizer.json': 'tokenizer',
      'tokenizer_config.json': 'tokenizer',
    });
    expect(manifest.graphs).toEqual([{ path: 'onnx/model.onnx', externalData: ['onnx/model.onnx.data'] }]);
    expectClose(await runMlp(join(out, 'onnx', 'model.onnx')), reference());
  });

  describe('corrupt input', () => {
    let good: Uint8Array;
    beforeAll(async () => {
      good = encodeModel(matmulChainModel({ d: 16, layers: 2, seed: 1 }));
    });
    const packBytes = async (name: string, bytes: Uint8Array) => {
      await writeFile(join(dir, name), bytes);
      return packModel(join(dir, name), { out: join(dir, `${name}-out`), chunkSize: 4096 });
    };

    it('truncated protobuf', () => expectInvalidModel(packBytes('trunc.onnx', good.subarray(0, good.byteLength - 300)), /trunc\.onnx is not a valid ONNX model: the protobuf is corrupt or truncated/));
    it('random bytes', () => {
      let s = 99;
      return expectInvalidModel(packBytes('random.onnx', new Uint8Array(8192).map(() => ((s = (s * 1664525 + 1013904223) >>> 0) >>> 24))), /random\.onnx is not a valid ONNX model/);
    });
    it('a PNG', () => expectInvalidModel(packBytes('image.onnx', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48])), /image\.onnx is not a valid ONNX model: this is a PNG image/));
    it('a text file', () => expectInvalidModel(packBytes('notes.onnx', new TextEncoder().encode('just some notes\nnot a model\n')), /notes\.onnx is not a valid ONNX model/));

    it('missing external data file', async () => {
      const src = join(dir, 'missing.onnx');
      await writeModel(matmulChainModel({ d: 32, layers: 1, seed: 1 }), src, { externalData: true });
      await rm(join(dir, 'missing.onnx.data'));
      await expectInvalidModel(packModel(src, { out: join(dir, 'missing-out'), chunkSize: 4096 }), /missing\.onnx: tensor "layer0.weight" needs the external data file "missing\.onnx\.data", which is missing/);
    });

    it('external data offset beyond the end of the file', async () => {
      const src = join(dir, 'short.onnx');
      await writeModel(matmulChainModel({ d: 32, layers: 1, seed: 1 }), src, { externalData: true });
      await writeFile(join(dir, 'short.onnx.data'), new Uint8Array(1000));
      await expectInvalidModel(packModel(src, { out: join(dir, 'short-out'), chunkSize: 4096 }), /short\.onnx: tensor "layer0.weight" points at bytes 0\.\.4096 of "short\.onnx\.data", which is only 1000 bytes long/);
    });
  });

  it('refuses to write into the input folder, and a missing input', async () => {
    const src = join(dir, 'self.onnx');
    await writeModel(matmulChainModel({ d: 8, layers: 1, seed: 1 }), src);
    await expect(packModel(src, { out: dir })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(packModel(join(dir, 'nope.onnx'), { out: join(dir, 'nope') })).rejects.toMatchObject({ code: 'not-found' });
    await expect(packModel(src, { out: join(dir, 'x'), chunkSize: 100 })).rejects.toMatchObject({ code: 'invalid-argument' });
  });

  it('honours an AbortSignal', async () => {
    const src = join(dir, 'abort.onnx');
    await writeModel(matmulChainModel({ d: 8, layers: 1, seed: 1 }), src);
    await expect(packModel(src, { out: join(dir, 'abort-out'), signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
  });
});
