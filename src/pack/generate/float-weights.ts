/**
 * Reading a generated model's float32 weights back out of its TensorProtos,
 * for the variant writers (fp16, q8, q4) that rewrite them.
 */
import { DataType, type TensorProto } from '../onnx-types.ts';

/**
 * The float32 values of an initializer held inline as raw_data, or undefined
 * when it is not one (another type, or weights already moved to external data).
 *
 * @example
 * const w = floatWeights(tensor); // Float32Array | undefined
 */
export function floatWeights(t: TensorProto | undefined): Float32Array | undefined {
  if (!t || t.data_type !== DataType.FLOAT || !t.raw_data) return undefined;
  // slice(): raw_data may sit at an offset that is not 4-aligned.
  return new Float32Array(t.raw_data.slice().buffer);
}

/** Weights of at least this many floats are rewritten by a variant (small constants stay float32). */
export const MIN_VARIANT_ELEMENTS = 64;

/** Dimensions of a tensor as plain numbers. */
export function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map(Number);
}
