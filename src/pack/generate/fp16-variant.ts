/**
 * The `model_fp16.onnx` variant of a generated decoder, as fp16 exports have
 * it at their boundary: float16 weights, float16 `past_key_values.*` inputs
 * and `present.*` / `logits` outputs. Inside, the graph still computes in
 * float32 (a Cast after each fp16 weight and input, before each output),
 * because onnxruntime's CPU provider lacks float16 kernels for several ops;
 * what the variant exercises is the fp16 file and I/O a loader must handle.
 */
import { AttributeType, DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx-types.ts';
import { floatWeights, MIN_VARIANT_ELEMENTS } from './float-weights.ts';
import { node } from './onnx-builder.ts';

/**
 * @example
 * const fp16 = fp16Variant(llamaDecoderModel(shape)); // write as onnx/model_fp16.onnx
 */
export function fp16Variant(model: ModelProto): ModelProto {
  const graph = structuredClone(model.graph ?? {});
  const nodes = graph.node ?? [];
  const casts: NodeProto[] = [];
  const cast = (from: string, to: string, type: number) => node('Cast', [from], [to], [{ name: 'to', type: AttributeType.INT, i: type }]);
  const renameInputs = (from: string, to: string) => {
    for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === from ? to : x));
  };
  graph.initializer = (graph.initializer ?? []).map((t): TensorProto => {
    const floats = floatWeights(t);
    if (!floats || floats.length < MIN_VARIANT_ELEMENTS) return t;
    const half = Uint16Array.from(floats, floatToHalf);
    casts.push(cast(`${t.name}.fp16`, t.name as string, DataType.FLOAT));
    return { ...t, name: `${t.name}.fp16`, data_type: DataType.FLOAT16, raw_data: new Uint8Array(half.buffer) };
  });
  for (const input of graph.input ?? []) {
    const tensor = input.type?.tensor_type;
    if (!tensor || tensor.elem_type !== DataType.FLOAT) continue;
    tensor.elem_type = DataType.FLOAT16;
    renameInputs(input.name as string, `${input.name}.f32`);
    casts.push(cast(input.name as string, `${input.name}.f32`, DataType.FLOAT));
  }
  const tail: NodeProto[] = [];
  for (const output of graph.output ?? []) {
    const tensor = output.type?.tensor_type;
    if (!tensor || tensor.elem_type !== DataType.FLOAT) continue;
    tensor.elem_type = DataType.FLOAT16;
    const name = output.name as string;
    for (const n of nodes) n.output = (n.output ?? []).map((x) => (x === name ? `${name}.f32` : x));
    renameInputs(name, `${name}.f32`);
    tail.push(cast(`${name}.f32`, name, DataType.FLOAT16));
  }
  graph.node = [...casts, ...nodes, ...tail];
  return { ...model, graph };
}

/** IEEE 754 binary16 bits of a float, rounded to nearest even. */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa rounds up into the exponent, as it should.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}
