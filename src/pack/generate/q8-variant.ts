/**
 * The `model_quantized.onnx` (q8) variant of a generated decoder, shaped as
 * transformers.js' q8 exports are: its conversion script runs onnxruntime's
 * dynamic quantizer (`ONNXQuantizer`, IntegerOps mode, `MatMulConstBOnly`,
 * signed int8 weights, per tensor, symmetric), which rewrites
 *
 *   MatMul(A, W)    -> DynamicQuantizeLinear(A) -> MatMulInteger(A_q, W_q, A_zp, W_zp)
 *                      -> Cast(float) -> Mul(. , A_scale * W_scale)
 *   Gather(E, ids)  -> Gather(E_q, ids) -> DequantizeLinear(. , E_scale, E_zp)
 *
 * MatMuls whose B is computed (attention scores) stay float; I/O stays
 * float32. onnxruntime-node and onnxruntime-web's wasm run every op here;
 * onnxruntime-web's WebGPU EP has no MatMulInteger or DynamicQuantizeLinear
 * kernel, so on WebGPU ORT places those nodes on its CPU (wasm) EP and the
 * rest on the GPU, as it does for such an export in the field.
 */
import { AttributeType, DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx-types.ts';
import { dimsOf, floatWeights } from './float-weights.ts';
import { node } from './onnx-builder.ts';

/** Weights of fewer elements stay float (onnxruntime's quantizer skips none, but our scalars are constants, not weights). */
const MIN_ELEMENTS = 64;

export interface Int8Quantized {
  data: Int8Array;
  /** float32; value = q * scale (zero point 0: symmetric). */
  scale: number;
}

/**
 * Symmetric per-tensor int8, as onnxruntime's quantizer does it for QInt8
 * weights: scale = max|w| / 127 (stored as float32), q = rint(w / scale)
 * clamped to [-127, 127], ties to even (numpy's rint).
 *
 * @example
 * const { data, scale } = quantizeInt8(new Float32Array([0.5, -1, 0.25])); // scale 1/127, data [64, -127, 32]
 */
export function quantizeInt8(values: Float32Array): Int8Quantized {
  let absMax = 0;
  for (const v of values) absMax = Math.max(absMax, Math.abs(v));
  // An all-zero tensor: any scale gives q = 0; 1 keeps the Mul finite.
  const scale = Math.fround(absMax === 0 ? 1 : absMax / 127);
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.max(-127, Math.min(127, roundHalfEven((values[i] as number) / scale)));
  return { data, scale };
}

/** The float values an int8 tensor stands for. */
export function dequantizeInt8({ data, scale }: Int8Quantized): Float32Array {
  return Float32Array.from(data, (q) => q * scale);
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
  const weight = (name: string, rank: number): boolean => {
    if (quantized.has(name)) return true;
    const t = inits.get(name);
    const values = floatWeights(t);
    if (!t || !values || dimsOf(t).length !== rank || values.length < MIN_ELEMENTS) return false;
    const { data, scale } = quantizeInt8(values);
    added.push(
      { name: `${name}_quantized`, dims: t.dims, data_type: DataType.INT8, raw_data: new Uint8Array(data.buffer) },
      { name: `${name}_scale`, dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(new Float32Array([scale]).buffer) },
      { name: `${name}_zero_point`, dims: [], data_type: DataType.INT8, raw_data: new Uint8Array(1) },
    );
    quantized.add(name);
    return true;
  };
  const dynamic = new Set<string>();
  const nodes: NodeProto[] = [];
  for (const n of graph.node ?? []) {
    const [a, b] = n.input ?? [];
    const y = (n.output ?? [])[0] as string;
    if (n.op_type === 'MatMul' && a && b && weight(b, 2)) {
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
    } else if (n.op_type === 'Gather' && a && b && weight(a, 2)) {
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
