import { describe, expect, it } from 'vitest';
import { matmulChainModel } from '../pack/generate/matmul-chain.ts';
import { floatValueInfo } from '../pack/generate/onnx-builder.ts';
import { encodeModel } from '../pack/onnx-model.ts';
import { DataType } from '../pack/onnx-types.ts';
import { readModelRequirements } from './model-requirements.ts';
import { matmulChainInMemory } from './test-model.ts';

describe('readModelRequirements', () => {
  it('finds the largest initializer, inline or external', () => {
    const inline = encodeModel(matmulChainModel({ d: 16, layers: 2, seed: 1 }));
    expect(readModelRequirements(inline)).toEqual({ largestTensorBytes: 16 * 16 * 4, usesFloat16: false });
    const external = matmulChainInMemory({ d: 24, layers: 2, seed: 1 }).graph;
    expect(readModelRequirements(external)).toEqual({ largestTensorBytes: 24 * 24 * 4, usesFloat16: false });
  });

  it('sees float16 initializers and inputs', () => {
    const model = matmulChainModel({ d: 8, layers: 1, seed: 1 });
    const weight = model.graph!.initializer![0]!;
    weight.data_type = DataType.FLOAT16;
    weight.raw_data = new Uint8Array(8 * 8 * 2);
    expect(readModelRequirements(encodeModel(model))).toEqual({ largestTensorBytes: 8 * 8 * 2, usesFloat16: true });

    const fp16Input = matmulChainModel({ d: 8, layers: 1, seed: 1 });
    const info = floatValueInfo('input', ['batch', 8]);
    info.type!.tensor_type!.elem_type = DataType.FLOAT16;
    fp16Input.graph!.input = [info];
    expect(readModelRequirements(encodeModel(fp16Input)).usesFloat16).toBe(true);
  });

  it('rejects bytes that are not protobuf', () => {
    expect(() => readModelRequirements(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'invalid-model' }));
  });
});
