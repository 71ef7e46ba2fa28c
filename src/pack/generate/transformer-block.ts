/**
 * `transformer-block`: one pre-norm transformer block (opset 17):
 * LayerNorm -> Q/K/V MatMuls -> multi-head softmax attention -> output
 * projection + residual -> LayerNorm -> FFN (4d, Relu) + residual.
 * Input and output are [batch, seq, d].
 */
import type { ModelProto, NodeProto, TensorProto } from '../onnx-types.ts';
import { floatAttr, floatTensor, floatValueInfo, int64Tensor, intAttr, intsAttr, modelOf, node } from './onnx-builder.ts';
import { deriveSeed, randomFloats } from './seeded-random.ts';

export interface TransformerBlockOptions {
  d: number;
  heads: number;
  seed: number;
}

/**
 * Picks d (a multiple of 8 * heads) so the block's ~12 d^2 floats come close to `sizeBytes`.
 *
 * @example
 * transformerBlockShape(2 * 1024 * 1024); // { d: 192, heads: 4 }
 */
export function transformerBlockShape(sizeBytes: number, heads = 4): { d: number; heads: number } {
  const step = 8 * heads;
  const d = Math.max(step, Math.floor(Math.sqrt(sizeBytes / 4 / 12) / step) * step);
  return { d, heads };
}

/**
 * @example
 * const model = transformerBlockModel({ d: 64, heads: 4, seed: 7 });
 */
export function transformerBlockModel(options: TransformerBlockOptions): ModelProto {
  const { d, heads, seed } = options;
  if (d % heads !== 0) throw new RangeError(`d (${d}) must be a multiple of heads (${heads})`);
  const dh = d / heads;
  const ffn = 4 * d;
  let stream = 0;
  const w = (name: string, dims: number[], scale: number): TensorProto =>
    floatTensor(name, dims, randomFloats(dims.reduce((a, b) => a * b, 1), deriveSeed(seed, stream++), scale));
  const ones = (name: string, n: number) => floatTensor(name, [n], new Float32Array(n).fill(1));
  const initializers: TensorProto[] = [
    ones('ln1.gamma', d),
    w('ln1.beta', [d], 0.02),
    w('attn.q', [d, d], 1 / Math.sqrt(d)),
    w('attn.k', [d, d], 1 / Math.sqrt(d)),
    w('attn.v', [d, d], 1 / Math.sqrt(d)),
    w('attn.o', [d, d], 1 / Math.sqrt(d)),
    w('attn.o.bias', [d], 0.02),
    ones('ln2.gamma', d),
    w('ln2.beta', [d], 0.02),
    w('ffn.w1', [d, ffn], 1 / Math.sqrt(d)),
    w('ffn.b1', [ffn], 0.02),
    w('ffn.w2', [ffn, d], 1 / Math.sqrt(ffn)),
    w('ffn.b2', [d], 0.02),
    floatTensor('attn.scale', [], new Float32Array([1 / Math.sqrt(dh)])),
    // Reshape: 0 copies the input's dimension (batch, seq stay symbolic).
    int64Tensor('shape.heads', [0, 0, heads, dh]),
    int64Tensor('shape.merge', [0, 0, d]),
  ];
  const ln = (x: string, prefix: string, out: string) =>
    node('LayerNormalization', [x, `${prefix}.gamma`, `${prefix}.beta`], [out], [intAttr('axis', -1), floatAttr('epsilon', 1e-5)]);
  const split = (proj: string, perm: number[]): NodeProto[] => [
    node('MatMul', ['ln1', `attn.${proj}`], [`${proj}`]),
    node('Reshape', [proj, 'shape.heads'], [`${proj}.heads`]),
    node('Transpose', [`${proj}.heads`], [`${proj}.t`], [intsAttr('perm', perm)]),
  ];
  const nodes: NodeProto[] = [
    ln('input', 'ln1', 'ln1'),
    ...split('q', [0, 2, 1, 3]), // [b, h, s, dh]
    ...split('k', [0, 2, 3, 1]), // [b, h, dh, s]
    ...split('v', [0, 2, 1, 3]), // [b, h, s, dh]
    node('MatMul', ['q.t', 'k.t'], ['scores']),
    node('Mul', ['scores', 'attn.scale'], ['scores.scaled']),
    node('Softmax', ['scores.scaled'], ['probs'], [intAttr('axis', -1)]),
    node('MatMul', ['probs', 'v.t'], ['context.heads']),
    node('Transpose', ['context.heads'], ['context.t'], [intsAttr('perm', [0, 2, 1, 3])]),
    node('Reshape', ['context.t', 'shape.merge'], ['context']),
    node('MatMul', ['context', 'attn.o'], ['attn.proj']),
    node('Add', ['attn.proj', 'attn.o.bias'], ['attn.out']),
    node('Add', ['input', 'attn.out'], ['residual1']),
    ln('residual1', 'ln2', 'ln2'),
    node('MatMul', ['ln2', 'ffn.w1'], ['ffn.h']),
    node('Add', ['ffn.h', 'ffn.b1'], ['ffn.hb']),
    node('Relu', ['ffn.hb'], ['ffn.act']),
    node('MatMul', ['ffn.act', 'ffn.w2'], ['ffn.o']),
    node('Add', ['ffn.o', 'ffn.b2'], ['ffn.out']),
    node('Add', ['residual1', 'ffn.out'], ['output']),
  ];
  return modelOf({
    name: 'transformer_block', producer: 'tessera-generate', nodes, initializers,
    inputs: [floatValueInfo('input', ['batch', 'seq', d])],
    outputs: [floatValueInfo('output', ['batch', 'seq', d])],
  });
}
