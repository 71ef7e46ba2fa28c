/**
 * Small graphs the variant writers' tests run on onnxruntime-node: one
 * MatMul against a float weight, and the logits of a generated decoder.
 */
import { encodeModel } from '../../src/pack/onnx-model.ts';
import type { ModelProto } from '../../src/pack/onnx-types.ts';
import { floatTensor, floatValueInfo, modelOf, node } from '../../src/pack/generate/onnx-builder.ts';

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
