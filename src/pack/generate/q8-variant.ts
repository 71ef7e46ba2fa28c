/**
 * The `model_quantized.onnx` (q8) variant of a generated decoder, shaped as
 * transformers.js' q8 exports are: its conversion script runs onnxruntime's
 * dynamic quantizer (`ONNXQuantizer`, IntegerOps mode, `MatMulConstBOnly`,
 * signed int8 weights, per tensor, symmetric), which rewrites
 *
 *   MatMul(A, W)    -> DynamicQuantizeLinear(A) -> MatMulInteger(A_q, W_q, A_zp, W_zp)
 *                      -> Cast(float) -> Mul(. , A_scale * W_scale)
 *   Gather(E, ids)  -> Gather(E_q, ids) -> DequantizeLinear(. , E_scale, E_zp)   (E_q uint8, zp 128)
 *
 * MatMuls whose B is computed (attention scores) stay float; I/O stays
 * float32. onnxruntime-node and onnxruntime-web's wasm run every op here;
 * onnxruntime-web 1.30's WebGPU EPs (JSEP and JSPI builds) have no
 * MatMulInteger or DynamicQuantizeLinear kernel, so on WebGPU ORT places
 * those nodes on its CPU (wasm) EP and the rest on the GPU, as it does for
 * such an export in the field (test/browser/quant-placement.test.ts). A
 * weight-only QDQ graph (DequantizeLinear -> MatMul) would stay on the GPU,
 * but it is not what q8 files on the hub contain. Gathers of a float table
 * (the embedding, and here the RoPE tables) are quantized too, as the
 * quantizer's GatherQuant does for any Gather of an initializer.
 */
import { AttributeType, DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx-types.ts';
import { dimsOf, floatWeights, MIN_VARIANT_ELEMENTS } from './float-weights.ts';
import { node } from './onnx-builder.ts';

export interface Quantized8 {
  type: 'int8' | 'uint8';
  /** Int8Array for int8, Uint8Array for uint8. */
  data: Int8Array | Uint8Array;
  /** float32; value = (q - zeroPoint) * scale. */
  scale: number;
  /** 0 for int8, 128 for uint8 (both symmetric around 0). */
  zeroPoint: number;
}

/**
 * Symmetric per-tensor 8-bit quantization as onnxruntime's quantizer does it
 * for weights (`WeightSymmetric`, its default for int8 weights): over
 * [-max|w|, max|w|], int8 takes [-127, 127] (scale = max|w| / 127, zero
 * point 0) and uint8 [0, 255] (scale = 2 max|w| / 255, zero point 128); the
 * scale is stored as float32, q = rint(w / scale) + zero point, ties to even
 * (numpy's rint), clamped to the range. MatMul weights are int8 (the weight
 * type); a Gather's table takes the activation type, uint8.
 *
 * @example
 * const { data, scale } = quantize8(new Float32Array([0.5, -1, 0.25]), 'int8'); // scale 1/127, data [64, -127, 32]
 */
export function quantize8(values: Float32Array, type: 'int8' | 'uint8'): Quantized8 {
  let absMax = 0;
  for (const v of values) absMax = Math.max(absMax, Math.abs(v));
  const [lo, hi, zeroPoint] = type === 'int8' ? [-127, 127, 0] : [0, 255, 128];
  // An all-zero tensor: scale 1 and zero point 0, as onnxruntime sets them.
  const zero = absMax === 0;
  const scale = Math.fround(zero ? 1 : (2 * absMax) / (hi - lo));
  const zp = zero ? 0 : zeroPoint;
  const data = type === 'int8' ? new Int8Array(values.length) : new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.max(lo, Math.min(hi, roundHalfEven((values[i] as number) / scale) + zp));
  return { type, data, scale, zeroPoint: zp };
}

/** The float values an 8-bit tensor stands for. */
export function dequantize8({ data, scale, zeroPoint }: Quantized8): Float32Array {
  return Float32Array.from(data, (q) => (q - zeroPoint) * scale);
}

/**
 * @example
 * const q8 = q8Variant(llamaDecoderModel(shape)); // write as onnx/model_quantized.onnx
 */
export function q8Variant(model: ModelProto): ModelProto {
  const graph = structuredClone(model.graph ?? {});
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
  const added: TensorProto[] = [];
  const quantized = new Set<string>();
  const weight = (name: string, rank: number, type: 'int8' | 'uint8'): boolean => {
    if (quantized.has(name)) return true;
    const t = inits.get(name);
    const values = floatWeights(t);
    if (!t || !values || dimsOf(t).length !== rank || values.length < MIN_VARIANT_ELEMENTS) return false;
    const { data, scale, zeroPoint } = quantize8(values, type);
    const dataType = type === 'int8' ? DataType.INT8 : DataType.UINT8;
    added.push(
      { name: `${name}_quantized`, dims: t.dims, data_type: dataType, raw_data: new Uint8Array(data.buffer) },
      { name: `${name}_scale`, dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(new Float32Array([scale]).buffer) },
      { name: `${name}_zero_point`, dims: [], data_type: dataType, raw_data: new Uint8Array([zeroPoint]) },
    );
    quantized.add(name);
    return true;
  };
  const dynamic = new Set<string>();
  const nodes: NodeProto[] = [];
  for (const n of graph.node ?? []) {
    const [a, b] = n.input ?? [];
    const y = (n.output ?? [])[0] as string;
    if (n.op_type === 'MatMul' && a && b && weight(b, 2, 'int8')) {
      // One DynamicQuantizeLinear per activation, shared by the MatMuls it feeds (q/k/v), as the quantizer does.
      if (!dynamic.has(a)) {
        nodes.push(node('DynamicQuantizeLinear', [a], [`${a}_quantized`, `${a}_scale`, `${a}_zero_point`]));
        dynamic.add(a);
      }
      nodes.push(
        node('MatMulInteger', [`${a}_quantized`, `${b}_quantized`, `${a}_zero_point`, `${b}_zero_point`], [`${y}_output_quantized`]),
        node('Cast', [`${y}_output_quantized`], [`${y}_output_quantized_cast_output`], [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }]),
        node('Mul', [`${a}_scale`, `${b}_scale`], [`${y}_quant_scales_mul`]),
        node('Mul', [`${y}_output_quantized_cast_output`, `${y}_quant_scales_mul`], [y]),
      );
    } else if (n.op_type === 'Gather' && a && b && weight(a, 2, 'uint8')) {
      nodes.push(
        node('Gather', [`${a}_quantized`, b], [`${y}_quantized`], n.attribute ?? []),
        node('DequantizeLinear', [`${y}_quantized`, `${a}_scale`, `${a}_zero_point`], [y]),
      );
    } else {
      nodes.push(n);
    }
  }
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name as string)), ...added];
  graph.node = nodes;
  return { ...model, graph };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round takes .5 up; numpy's rint takes it to the even neighbour.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
