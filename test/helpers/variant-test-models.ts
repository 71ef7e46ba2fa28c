/**
 * Small graphs the variant writers' tests run on onnxruntime-node: one
 * MatMul against a float weight, the logits of a generated decoder, and the
 * drift check every quantized variant of that decoder is held to.
 */
import { expect } from 'vitest';
import { encodeModel } from '../../src/pack/onnx-model.ts';
import type { ModelProto } from '../../src/pack/onnx-types.ts';
import { floatTensor, floatValueInfo, modelOf, node } from '../../src/pack/generate/onnx-builder.ts';
import { llamaDecoderModel, llamaDecoderShape, type LlamaDecoderShape } from '../../src/pack/generate/llama-decoder.ts';

/**
 * y = x [rows, k] @ W [k, n], W an initializer (what the quantizers rewrite).
 *
 * @example
 * const model = oneMatMul(weights, 40, 8);
 */
export function oneMatMul(weights: Float32Array, k: number, n: number): ModelProto {
  return modelOf({
    name: 'one_matmul',
    producer: 'tessera-generate',
    nodes: [node('MatMul', ['x', 'w'], ['y'])],
    initializers: [floatTensor('w', [k, n], weights)],
    inputs: [floatValueInfo('x', ['rows', k])],
    outputs: [floatValueInfo('y', ['rows', n])],
  });
}

/** x @ W in float64, for comparing against a session's output. */
export function matmulReference(x: Float32Array, rows: number, w: Float32Array, k: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += (x[r * k + i] as number) * (w[i * n + c] as number);
      out[r * n + c] = sum;
    }
  }
  return out;
}

/**
 * The prefill logits of a generated decoder graph for a few ids, on
 * onnxruntime-node (an empty past).
 *
 * @example
 * const logits = await decoderLogits(q8Variant(model), { layers: 2, heads: 4, headDim: 8 });
 */
export async function decoderLogits(model: ModelProto, dims: { layers: number; heads: number; headDim: number }, ids = [0, 17, 200, 45, 99]): Promise<number[]> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(encodeModel(model));
  const int = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const past = Object.fromEntries(
    Array.from({ length: dims.layers }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, dims.heads, 0, dims.headDim])])).flat(),
  );
  try {
    const out = await session.run({ input_ids: int(ids), attention_mask: int(ids.map(() => 1)), position_ids: int(ids.map((_, i) => i)), ...past });
    return Array.from(out.logits?.data as Float32Array);
  } finally {
    await session.release();
  }
}

/**
 * The decoder the variant writers' drift tests quantize (2 layers, hidden
 * 32, 4 heads of 8, vocab 300, seed 5), in fp32.
 *
 * @example
 * const { shape, fp32 } = driftDecoder();
 * await expectLogitDrift(fp32, q8Variant(fp32), shape, 0.1);
 */
export function driftDecoder(): { shape: LlamaDecoderShape; fp32: ModelProto } {
  const shape = llamaDecoderShape({ layers: 2, hidden: 32, heads: 4, vocab: 300, maxPositions: 64, seed: 5 });
  return { shape, fp32: llamaDecoderModel(shape) };
}

/**
 * A variant's prefill logits against the fp32 graph's, on onnxruntime-node:
 * they differ (the variant is not the float model under another name), and
 * by less than `maxFraction` of the float logits' spread.
 *
 * @example
 * await expectLogitDrift(fp32, q4Variant(fp32), shape, 0.3);
 */
export async function expectLogitDrift(fp32: ModelProto, variant: ModelProto, shape: LlamaDecoderShape, maxFraction: number): Promise<void> {
  const dims = { layers: shape.layers, heads: shape.heads, headDim: shape.hidden / shape.heads };
  const [a, b] = [await decoderLogits(fp32, dims), await decoderLogits(variant, dims)];
  const err = Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number))));
  const spread = Math.max(...a) - Math.min(...a);
  expect(err).toBeGreaterThan(0);
  expect(err).toBeLessThan(maxFraction * spread);
}
