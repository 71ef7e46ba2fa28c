/**
 * `matmul-chain`: input [batch, d] -> `layers` x (MatMul + Add (+ Relu, except
 * after the last layer)). Its weights are seeded, so a pure-JS reference can
 * recompute the exact same model and check ONNX Runtime's outputs.
 */
import type { ModelProto, NodeProto, TensorProto } from '../onnx-types.ts';
import { floatTensor, floatValueInfo, modelOf, node } from './onnx-builder.ts';
import { deriveSeed, randomFloats } from './seeded-random.ts';

export interface MatmulChainOptions {
  /** Width of every layer. */
  d: number;
  layers: number;
  seed: number;
  /** Give some layers their own seed (e.g. a "new revision" that changes only the last layer). */
  layerSeeds?: Record<number, number>;
}

export interface MatmulChainLayer {
  weight: Float32Array; // [d, d], row-major
  bias: Float32Array; // [d]
}

/**
 * Picks d (a multiple of 8, at least 8) so `layers` layers of d*d + d floats
 * come as close to `sizeBytes` as possible from below.
 *
 * @example
 * matmulChainShape(3 * 1024 * 1024, 4); // { d: 440, layers: 4 }
 */
export function matmulChainShape(sizeBytes: number, layers = 4): { d: number; layers: number } {
  const perLayerFloats = sizeBytes / 4 / layers;
  const d = Math.max(8, Math.floor(Math.sqrt(perLayerFloats) / 8) * 8);
  return { d, layers };
}

/** The layer weights, exactly as written into the model. */
export function matmulChainWeights(options: MatmulChainOptions): MatmulChainLayer[] {
  const { d, layers, seed } = options;
  // Uniform in [-1/sqrt(d), 1/sqrt(d)) keeps activations O(1) through the chain.
  const scale = 1 / Math.sqrt(d);
  return Array.from({ length: layers }, (_, i) => {
    const layerSeed = options.layerSeeds?.[i] ?? deriveSeed(seed, i);
    return {
      weight: randomFloats(d * d, deriveSeed(layerSeed, 0), scale),
      bias: randomFloats(d, deriveSeed(layerSeed, 1), 0.1),
    };
  });
}

/**
 * @example
 * const model = matmulChainModel({ d: 64, layers: 3, seed: 1 });
 * // inputs: input [batch, 64]; outputs: output [batch, 64]
 */
export function matmulChainModel(options: MatmulChainOptions): ModelProto {
  const { d } = options;
  const weights = matmulChainWeights(options);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let x = 'input';
  weights.forEach((layer, i) => {
    const last = i === weights.length - 1;
    initializers.push(floatTensor(`layer${i}.weight`, [d, d], layer.weight), floatTensor(`layer${i}.bias`, [d], layer.bias));
    nodes.push(node('MatMul', [x, `layer${i}.weight`], [`layer${i}.mm`]));
    const added = last ? 'output' : `layer${i}.add`;
    nodes.push(node('Add', [`layer${i}.mm`, `layer${i}.bias`], [added]));
    if (!last) {
      nodes.push(node('Relu', [added], [`layer${i}.relu`]));
      x = `layer${i}.relu`;
    }
  });
  return modelOf({
    name: 'matmul_chain', producer: 'tessera-generate', nodes, initializers,
    inputs: [floatValueInfo('input', ['batch', d])],
    outputs: [floatValueInfo('output', ['batch', d])],
  });
}

/**
 * Runs the chain in plain JS (float64 accumulation): the reference that ONNX
 * Runtime's outputs are checked against.
 *
 * @example
 * const out = matmulChainReference(matmulChainWeights(opts), input, batch);
 */
export function matmulChainReference(layers: MatmulChainLayer[], input: Float32Array, batch: number): Float32Array {
  let x = input;
  layers.forEach((layer, li) => {
    const d = layer.bias.length;
    const y = new Float32Array(batch * d);
    const acc = new Float64Array(d);
    for (let b = 0; b < batch; b++) {
      acc.fill(0);
      for (let k = 0; k < d; k++) {
        const xv = x[b * d + k] as number;
        if (xv === 0) continue;
        const row = k * d;
        for (let j = 0; j < d; j++) acc[j] = (acc[j] as number) + xv * (layer.weight[row + j] as number);
      }
      const relu = li < layers.length - 1;
      for (let j = 0; j < d; j++) {
        const v = (acc[j] as number) + (layer.bias[j] as number);
        y[b * d + j] = relu && v < 0 ? 0 : v;
      }
    }
    x = y;
  });
  return x;
}
