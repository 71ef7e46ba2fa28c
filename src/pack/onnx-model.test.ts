import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { matmulChainModel } from './generate/matmul-chain.ts';
import { decodeModel, encodeModel, inlineTensorBytes, tensorByteLength } from './onnx-model.ts';
import { DataType } from './onnx-types.ts';

function expectInvalid(bytes: Uint8Array, pattern: RegExp) {
  try {
    decodeModel(bytes, 'bad.onnx');
  } catch (error) {
    expect(isTesseraError(error, 'invalid-model')).toBe(true);
    expect((error as Error).message).toMatch(/^bad\.onnx is not a valid ONNX model: /);
    expect((error as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('decodeModel accepted bad input');
}

describe('decodeModel', () => {
  const good = encodeModel(matmulChainModel({ d: 8, layers: 2, seed: 1 }));

  it('decodes a model', () => {
    expect(decodeModel(good).graph?.node?.length).toBe(5);
  });
  it('rejects an empty file', () => expectInvalid(new Uint8Array(), /empty/));
  it('rejects a truncated protobuf', () => expectInvalid(good.subarray(0, good.byteLength - 100), /corrupt or truncated/));
  it('rejects a PNG', () => expectInvalid(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /PNG/));
  it('rejects a text file', () => expectInvalid(new TextEncoder().encode('hello, this is not a model\n'), /corrupt|ir_version|graph/));
  it('rejects random bytes', () => {
    let state = 12345;
    const bytes = new Uint8Array(4096).map(() => ((state = (state * 1103515245 + 12345) >>> 0) >>> 24));
    expectInvalid(bytes, /corrupt|ir_version|graph/);
  });
  it('rejects a protobuf that is not a ModelProto', () => expectInvalid(new Uint8Array([0x08, 0x01]), /has no graph/));
});

describe('tensor bytes', () => {
  it('converts typed fields to raw little-endian bytes', () => {
    const f = inlineTensorBytes({ dims: [2], data_type: DataType.FLOAT, float_data: [1, -2] });
    expect(Array.from(new Float32Array(f!.slice().buffer))).toEqual([1, -2]);
    const i64 = inlineTensorBytes({ dims: [2], data_type: DataType.INT64, int64_data: [-1, 2 ** 40] });
    expect(Array.from(new BigInt64Array(i64!.slice().buffer))).toEqual([-1n, 2n ** 40n]);
    const f16 = inlineTensorBytes({ dims: [2], data_type: DataType.FLOAT16, int32_data: [0x3c00, 0xc000] });
    expect(Array.from(new Uint16Array(f16!.slice().buffer))).toEqual([0x3c00, 0xc000]);
    const u8 = inlineTensorBytes({ dims: [3], data_type: DataType.UINT8, int32_data: [1, 2, 255] });
    expect(Array.from(u8!)).toEqual([1, 2, 255]);
    const d = inlineTensorBytes({ dims: [1], data_type: DataType.DOUBLE, double_data: [0.1] });
    expect(new Float64Array(d!.slice().buffer)[0]).toBe(0.1);
    expect(inlineTensorBytes({ dims: [1], data_type: DataType.STRING, string_data: [new Uint8Array([65])] })).toBeUndefined();
  });
  it('sizes packed sub-byte types', () => {
    expect(tensorByteLength({ dims: [3, 3], data_type: DataType.INT4 })).toBe(5);
    expect(tensorByteLength({ dims: [5], data_type: DataType.UINT2 })).toBe(2);
    expect(tensorByteLength({ dims: [], data_type: DataType.FLOAT })).toBe(4);
    expect(tensorByteLength({ dims: [2], data_type: DataType.STRING })).toBeUndefined();
  });
});
