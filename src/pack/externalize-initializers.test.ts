import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { matmulChainModel } from './generate/matmul-chain.ts';
import { alignmentFor, externalizeInitializers } from './externalize-initializers.ts';
import { externalDataEntries } from './onnx-model.ts';
import { DataType, type ModelProto } from './onnx-types.ts';

const entries = (model: ModelProto, name: string) =>
  Object.fromEntries(externalDataEntries(model.graph!.initializer!.find((t) => t.name === name)!));

describe('externalizeInitializers', () => {
  it('moves weights above minBytes out, with aligned offsets, in graph order', () => {
    const model = matmulChainModel({ d: 32, layers: 2, seed: 1 }); // weights 4096 B, biases 128 B
    const { files } = externalizeInitializers(model, { baseName: 'm.onnx', minBytes: 1024 });
    expect(files).toHaveLength(1);
    expect(files[0]!.location).toBe('m.onnx.data');
    expect(files[0]!.segments.map((s) => [s.name, s.offset, s.length])).toEqual([
      ['layer0.weight', 0, 4096],
      ['layer1.weight', 4096, 4096],
    ]);
    expect(entries(model, 'layer1.weight')).toEqual({ location: 'm.onnx.data', offset: '4096', length: '4096' });
    const bias = model.graph!.initializer!.find((t) => t.name === 'layer0.bias')!;
    expect(bias.raw_data?.byteLength).toBe(128);
    expect(bias.data_location).toBeUndefined();
  });

  it('splits across files at maxFileSize and never splits a tensor', () => {
    const model = matmulChainModel({ d: 32, layers: 3, seed: 1 });
    const { files } = externalizeInitializers(model, { baseName: 'm.onnx', minBytes: 1, maxFileSize: 8192 });
    // Each layer is 4096 + 128 bytes; the next weight would end at 8320 > 8192, so one layer per file.
    expect(files.map((f) => f.location)).toEqual(['m.onnx.data', 'm.onnx.1.data', 'm.onnx.2.data']);
    for (const f of files) expect(f.size).toBeLessThanOrEqual(8192);
    expect(entries(model, 'layer2.bias').location).toBe('m.onnx.2.data');
  });

  it('aligns big tensors to 4 KiB pages and small ones to 64 bytes', () => {
    expect(alignmentFor(1 << 20)).toBe(4096);
    expect(alignmentFor(100)).toBe(64);
  });

  it('is deterministic', () => {
    const a = matmulChainModel({ d: 16, layers: 3, seed: 2 });
    const b = matmulChainModel({ d: 16, layers: 3, seed: 2 });
    expect(JSON.stringify(externalizeInitializers(a, { minBytes: 1 }).files.map((f) => [f.location, f.size, f.segments.map((s) => s.offset)]))).toBe(
      JSON.stringify(externalizeInitializers(b, { minBytes: 1 }).files.map((f) => [f.location, f.size, f.segments.map((s) => s.offset)])),
    );
  });

  it('re-lays out already-external tensors and checks them against their file', () => {
    const ext = (offset: string, length?: string): ModelProto => ({
      ir_version: 8,
      graph: {
        initializer: [
          {
            name: 'w',
            dims: [4],
            data_type: DataType.FLOAT,
            data_location: 1,
            external_data: [{ key: 'location', value: 'old.bin' }, { key: 'offset', value: offset }, ...(length ? [{ key: 'length', value: length }] : [])],
          },
        ],
      },
    });
    const ok = externalizeInitializers(ext('16', '16'), { sizeOf: () => 32 });
    expect(ok.files[0]!.segments[0]!.source).toEqual({ type: 'file', location: 'old.bin', offset: 16, length: 16 });
    const cases: [ModelProto, (l: string) => number | undefined, RegExp][] = [
      [ext('0'), () => undefined, /"old.bin", which is missing/],
      [ext('24'), () => 32, /bytes 24\.\.40 of "old.bin", which is only 32 bytes long/],
      [ext('0', '8'), () => 32, /length 8, but its type and dims need 16 bytes/],
      [ext('-1'), () => 32, /invalid external data offset/],
    ];
    for (const [model, sizeOf, message] of cases) {
      expect(() => externalizeInitializers(model, { sizeOf, file: 'x.onnx' })).toThrow(message);
    }
    const escaping = ext('0');
    escaping.graph!.initializer![0]!.external_data![0]!.value = '../secret';
    expect(() => externalizeInitializers(escaping, { sizeOf: () => 64 })).toThrow(/relative path inside/);
  });

  it('refuses a tensor bigger than maxFileSize', () => {
    try {
      externalizeInitializers(matmulChainModel({ d: 32, layers: 1, seed: 1 }), { maxFileSize: 1000, minBytes: 1, file: 'big.onnx' });
      throw new Error('accepted');
    } catch (error) {
      expect(isTesseraError(error, 'invalid-model')).toBe(true);
      expect((error as Error).message).toMatch(/big\.onnx: tensor "layer0.weight" holds 4096 bytes/);
    }
  });
});
