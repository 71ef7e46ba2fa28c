/**
 * The `model_q4.onnx` variant of a generated decoder, shaped as
 * transformers.js' q4 exports are: its conversion script runs onnxruntime's
 * `MatMul4BitsQuantizer` (block size 32, symmetric by default), which turns
 * every MatMul with a constant 2-D weight W [K, N] into com.microsoft
 * `MatMulNBits(A, B, scales[, zero_points])` with attributes K, N, bits 4,
 * block_size:
 *
 *   B            uint8 [N, ceil(K / block), block / 2]: W transposed, each
 *                column cut into blocks along K, two 4-bit codes a byte,
 *                the lower K index in the low nibble; a short last block is
 *                padded with the code of 0
 *   scales       float32 [N * blocks], column-major like B
 *   zero_points  (asymmetric only) uint8 [N * ceil(blocks / 2)], two a byte,
 *                low nibble first; absent means 8
 *
 * and W[k, n] = (code - zero_point) * scale. Embeddings (Gather) stay float,
 * as the quantizer leaves them by default; I/O stays float32.
 */
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx-types.ts';
import { dimsOf, floatWeights } from './float-weights.ts';
import { intAttr, node } from './onnx-builder.ts';

const MS_DOMAIN = 'com.microsoft';

export interface Q4Options {
  /** A power of two, at least 16. Default 32 (transformers.js' default). */
  blockSize?: number;
  /** Default true: zero point 8, scale from the largest magnitude. false: per-block min/max with zero points. */
  symmetric?: boolean;
}

export interface Q4Quantized {
  k: number;
  n: number;
  blockSize: number;
  /** Blocks per column: ceil(k / blockSize). */
  blocks: number;
  /** [n, blocks, blockSize / 2] */
  packed: Uint8Array;
  /** [n * blocks] */
  scales: Float32Array;
  /** [n * ceil(blocks / 2)], asymmetric only. */
  zeroPoints?: Uint8Array;
}

/**
 * Block-quantizes W [k, n] (row-major, as a MatMul's B) to 4 bits, as
 * onnxruntime's MLAS blockwise quantizer does: symmetric takes the value of
 * largest magnitude m and scale = m / -8, so m codes to 0 and the range is
 * [-8, 7] around 8; asymmetric spans [min(0, lo), max(0, hi)] over 15 steps.
 * Codes round half away from zero (C's roundf).
 *
 * @example
 * const q = quantizeQ4(weights, 64, 160); // q.packed.length === 160 * 2 * 16
 */
export function quantizeQ4(weights: Float32Array, k: number, n: number, options: Q4Options = {}): Q4Quantized {
  const blockSize = options.blockSize ?? 32;
  const symmetric = options.symmetric ?? true;
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new RangeError(`block size must be a power of two >= 16, got ${blockSize}`);
  if (weights.length !== k * n) throw new RangeError(`weights has ${weights.length} values, not k * n = ${k * n}`);
  const blocks = Math.ceil(k / blockSize);
  const blob = blockSize / 2;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zpPerColumn = Math.ceil(blocks / 2);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * zpPerColumn);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < blocks; b++) {
      const from = b * blockSize;
      const to = Math.min(k, from + blockSize);
      let scale: number;
      let zp = 8;
      if (symmetric) {
        let m = 0;
        for (let r = from; r < to; r++) {
          const v = weights[r * n + col] as number;
          if (Math.abs(v) > Math.abs(m)) m = v;
        }
        // m = 0 (an all-zero block): +0, not the -0 that 0 / -8 gives.
        scale = m === 0 ? 0 : Math.fround(m / -8);
      } else {
        let lo = 0;
        let hi = 0;
        for (let r = from; r < to; r++) {
          const v = weights[r * n + col] as number;
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        scale = Math.fround((hi - lo) / 15);
        zp = scale === 0 ? 8 : clamp(roundAway(-lo / scale), 0, 15);
        const at = col * zpPerColumn + (b >> 1);
        (zeroPoints as Uint8Array)[at] = ((zeroPoints as Uint8Array)[at] as number) | (zp << ((b & 1) * 4));
      }
      scales[col * blocks + b] = scale;
      const inverse = scale === 0 ? 0 : 1 / scale;
      const base = (col * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const r = from + i;
        // Padding rows past k code the value 0.
        const v = r < to ? (weights[r * n + col] as number) : 0;
        const code = clamp(roundAway(v * inverse) + zp, 0, 15);
        packed[base + (i >> 1)] = (packed[base + (i >> 1)] as number) | (code << ((i & 1) * 4));
      }
    }
  }
  return { k, n, blockSize, blocks, packed, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/**
 * W [k, n] back from its 4-bit blocks: (code - zero_point) * scale, the
 * formula MatMulNBits applies.
 *
 * @example
 * const w = dequantizeQ4(quantizeQ4(weights, 64, 160));
 */
export function dequantizeQ4(q: Q4Quantized): Float32Array {
  const out = new Float32Array(q.k * q.n);
  const blob = q.blockSize / 2;
  const zpPerColumn = Math.ceil(q.blocks / 2);
  for (let col = 0; col < q.n; col++) {
    for (let r = 0; r < q.k; r++) {
      const b = Math.floor(r / q.blockSize);
      const i = r % q.blockSize;
      const code = ((q.packed[(col * q.blocks + b) * blob + (i >> 1)] as number) >> ((i & 1) * 4)) & 0xf;
      const zp = q.zeroPoints ? ((q.zeroPoints[col * zpPerColumn + (b >> 1)] as number) >> ((b & 1) * 4)) & 0xf : 8;
      out[r * q.n + col] = (code - zp) * (q.scales[col * q.blocks + b] as number);
    }
  }
  return out;
}

/**
 * @example
 * const q4 = q4Variant(llamaDecoderModel(shape)); // write as onnx/model_q4.onnx
 */
export function q4Variant(model: ModelProto, options: Q4Options = {}): ModelProto {
  const graph = structuredClone(model.graph ?? {});
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
  const added: TensorProto[] = [];
  const done = new Map<string, Q4Quantized>();
  const nodes: NodeProto[] = [];
  for (const n of graph.node ?? []) {
    const [a, b] = n.input ?? [];
    const t = b === undefined ? undefined : inits.get(b);
    const values = floatWeights(t);
    if (n.op_type !== 'MatMul' || !a || !b || !t || !values || dimsOf(t).length !== 2) {
      nodes.push(n);
      continue;
    }
    const [k, cols] = dimsOf(t) as [number, number];
    let q = done.get(b);
    if (!q) {
      q = quantizeQ4(values, k, cols, options);
      done.set(b, q);
      added.push(
        { name: `${b}_Q4`, dims: [cols, q.blocks, q.blockSize / 2], data_type: DataType.UINT8, raw_data: q.packed },
        { name: `${b}_scales`, dims: [cols * q.blocks], data_type: DataType.FLOAT, raw_data: new Uint8Array(q.scales.buffer) },
        ...(q.zeroPoints ? [{ name: `${b}_zero_points`, dims: [q.zeroPoints.length], data_type: DataType.UINT8, raw_data: q.zeroPoints }] : []),
      );
    }
    const inputs = [a, `${b}_Q4`, `${b}_scales`, ...(q.zeroPoints ? [`${b}_zero_points`] : [])];
    nodes.push({
      ...node('MatMulNBits', inputs, n.output ?? [], [intAttr('K', k), intAttr('N', cols), intAttr('bits', 4), intAttr('block_size', q.blockSize)]),
      name: `${n.name}_Q4`,
      domain: MS_DOMAIN,
    });
  }
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name as string)), ...added];
  graph.node = nodes;
  const opsets = (model.opset_import ?? []).filter((o) => o.domain !== MS_DOMAIN);
  return { ...model, opset_import: [...opsets, { domain: MS_DOMAIN, version: 1 }], graph };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

function roundAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}
