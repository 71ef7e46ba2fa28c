/**
 * The q8 writer: onnxruntime's int8 weight quantization (symmetric, ties to
 * even, within half a step), and the rewritten decoder graph, run on
 * onnxruntime-node, close to the float one but not the same.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx-model.ts';
import { DataType } from '../onnx-types.ts';
import { driftDecoder, expectLogitDrift, matmulReference, oneMatMul } from '../../../test/helpers/variant-test-models.ts';
import { dequantize8, q8Variant, quantize8 } from './q8-variant.ts';
import { randomFloats } from './seeded-random.ts';

describe('quantize8', () => {
  it('int8: the largest magnitude maps to +-127, zero point 0, ties to even', () => {
    // absMax 127: scale exactly 1, so the codes are the values rounded.
    const { data, scale, zeroPoint } = quantize8(new Float32Array([127, 2.5, 3.5, -2.5, -0.5, 0.49, -127]), 'int8');
    expect([scale, zeroPoint]).toEqual([1, 0]);
    expect(data).toBeInstanceOf(Int8Array);
    expect(Array.from(data)).toEqual([127, 2, 4, -2, 0, 0, -127]);
    const small = quantize8(new Float32Array([0.5, -1, 0.25, 0]), 'int8');
    expect(small.scale).toBe(Math.fround(1 / 127));
    expect(Array.from(small.data)).toEqual([64, -127, 32, 0]);
  });

  it('uint8: symmetric around zero point 128 over [0, 255]', () => {
    // absMax 127.5: scale exactly 1.
    const { data, scale, zeroPoint } = quantize8(new Float32Array([127.5, -127.5, 0, 2.5, -3.5]), 'uint8');
    expect([scale, zeroPoint]).toEqual([1, 128]);
    expect(data).toBeInstanceOf(Uint8Array);
    // 127.5 -> rint 128 (even) + 128 = 256, clamped to 255; -127.5 -> -128 + 128 = 0.
    expect(Array.from(data)).toEqual([255, 0, 128, 130, 124]);
  });

  for (const type of ['int8', 'uint8'] as const) {
    it(`${type}: round-trips within half a step; an all-zero tensor stays zero`, () => {
      const values = randomFloats(10_000, 11, 3);
      const q = quantize8(values, type);
      const back = dequantize8(q);
      let worst = 0;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs((values[i] as number) - (back[i] as number)));
      expect(worst).toBeLessThanOrEqual((q.scale / 2) * (1 + 1e-5));
      expect(worst).toBeGreaterThan(q.scale / 4); // 10k uniform values do land near half a step
      const zero = quantize8(new Float32Array(8), type);
      expect(Array.from(dequantize8(zero))).toEqual(new Array(8).fill(0));
      expect(zero.scale).toBe(1);
    });
  }
});

describe('q8Variant', () => {
  it('rewrites a weight MatMul as DynamicQuantizeLinear -> MatMulInteger, within the int8 error on onnxruntime-node', async () => {
    const k = 48;
    const n = 16;
    const w = randomFloats(k * n, 3, 0.2);
    const model = q8Variant(oneMatMul(w, k, n));
    expect(model.graph?.node?.map((x) => x.op_type)).toEqual(['DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul']);
    expect(model.graph?.initializer?.map((t) => [t.name, t.data_type])).toEqual([['w_quantized', DataType.INT8], ['w_scale', DataType.FLOAT], ['w_zero_point', DataType.INT8]]);
    const x = randomFloats(3 * k, 4, 1);
    const session = await ort.InferenceSession.create(encodeModel(model));
    try {
      const y = (await session.run({ x: new ort.Tensor('float32', x, [3, k]) })).y?.data as Float32Array;
      const want = matmulReference(x, 3, w, k, n);
      const err = Math.max(...Array.from(y, (v, i) => Math.abs(v - (want[i] as number))));
      const size = Math.max(...Array.from(want, Math.abs));
      // Weights and activations each lose at most half a step of 1/127 of their range.
      expect(err).toBeLessThan(0.03 * size);
      expect(err).toBeGreaterThan(0);
    } finally {
      await session.release();
    }
  });

  it('quantizes every weight MatMul and the embedding of a decoder, whose logits stay close to fp32', async () => {
    const { shape, fp32 } = driftDecoder();
    const q8 = q8Variant(fp32);
    const ops = (q8.graph?.node ?? []).map((x) => x.op_type);
    const count = (op: string) => ops.filter((o) => o === op).length;
    expect(count('MatMulInteger')).toBe(shape.layers * 7 + 1); // q k v o gate up down per layer, and the LM head
    expect(count('DynamicQuantizeLinear')).toBe(shape.layers * 4 + 1); // shared by the MatMuls of one activation
    expect(count('MatMul')).toBe(shape.layers * 2); // attention's scores and context: B is computed
    const names = new Set(q8.graph?.initializer?.map((t) => t.name));
    expect(names.has('lm_head.weight')).toBe(false);
    const embed = q8.graph?.initializer?.find((t) => t.name === 'model.embed_tokens.weight_quantized');
    expect(embed?.data_type).toBe(DataType.UINT8);
    expect(q8.graph?.initializer?.find((t) => t.name === 'model.embed_tokens.weight_zero_point')?.raw_data).toEqual(new Uint8Array([128]));
    expect(q8.graph?.initializer?.find((t) => t.name === 'lm_head.weight_quantized')?.data_type).toBe(DataType.INT8);
    await expectLogitDrift(fp32, q8, shape, 0.1);
  });
});
