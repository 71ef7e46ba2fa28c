/**
 * JSON numbers <-> typed tensors for the inference APIs. JSON bodies carry
 * nested or flat arrays; sessions get typed arrays in binary frames. Every
 * value is checked here (finite, integral, in range) so that a bad element is
 * a 400 naming the tensor and the element, never a silent NaN or wrap-around.
 */
import { makeArray } from '../../src/protocol/tensor-frame.ts';
import type { TensorArray, TensorData, TensorType } from '../../src/protocol/tensor.ts';
import type { TensorSpec } from '../../src/protocol/coordinator-messages.ts';
import { badRequest, HttpError } from '../http-error.ts';

/** Open Inference Protocol v2 datatypes and the tensor types they carry (BYTES is not supported). */
export const OIP_TYPES: Readonly<Record<string, TensorType>> = Object.freeze({
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64', FP16: 'float16', FP32: 'float32', FP64: 'float64',
});

/** @example oipDatatypeOf('float32') // 'FP32' */
export function oipDatatypeOf(type: TensorType): string {
  for (const [k, v] of Object.entries(OIP_TYPES)) if (v === type) return k;
  return type.toUpperCase();
}

/**
 * Elements one request may carry in all its tensors. 1 Mi elements is 4 MiB
 * of float32: well inside a session's memory, and about what an 8 MiB JSON body
 * can hold anyway.
 */
export const MAX_REQUEST_ELEMENTS = 1 << 20;

const bad = badRequest;

/**
 * The shape of a regular nested array and its elements in row-major order.
 * A scalar has shape []. Ragged arrays are a 400.
 *
 * @example
 * flattenNested([[1, 2], [3, 4]], 'x'); // { shape: [2, 2], values: [1, 2, 3, 4] }
 */
export function flattenNested(value: unknown, where: string): { shape: number[]; values: unknown[] } {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const values: unknown[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) bad(`${where}${path}: ragged array: expected a value at depth ${depth}, got an array`);
      values.push(v);
      if (values.length > MAX_REQUEST_ELEMENTS) tooMany(where);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      bad(`${where}${path}: ragged array: expected ${shape[depth]} elements at depth ${depth} like the first row`);
    }
    (v as unknown[]).forEach((x, i) => walk(x, depth + 1, `${path}[${i}]`));
  };
  walk(value, 0, '');
  return { shape, values };
}

function tooMany(where: string): never {
  throw new HttpError(413, 'payload-too-large', `${where}: more than ${MAX_REQUEST_ELEMENTS} elements in one request; split it into smaller requests`);
}

const INT_RANGE: Partial<Record<TensorType, [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-2147483648, 2147483647], uint32: [0, 4294967295],
};

/**
 * Checked conversion of JSON values into the typed array for `type`.
 * int64/uint64 accept safe integers or decimal strings (for values past 2^53).
 *
 * @example
 * toTensor('float32', [2], [1, 2], 'x'); // { type: 'float32', dims: [2], data: Float32Array [1, 2] }
 */
export function toTensor(type: TensorType, dims: number[], values: readonly unknown[], where: string): TensorData {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > MAX_REQUEST_ELEMENTS) tooMany(where);
  if (values.length !== count) bad(`${where}: shape [${dims.join(', ')}] holds ${count} elements but data has ${values.length}`);
  const data = makeArray(type, count) as TensorArray;
  const at = (i: number): string => `${where}: element ${i}`;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    switch (type) {
      case 'float32':
      case 'float64':
        if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${at(i)} must be a finite number, got ${JSON.stringify(v)}`);
        (data as Float32Array)[i] = v as number;
        break;
      case 'float16':
        if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${at(i)} must be a finite number, got ${JSON.stringify(v)}`);
        (data as Uint16Array)[i] = toHalfBits(v as number);
        break;
      case 'bool':
        if (v !== true && v !== false && v !== 0 && v !== 1) bad(`${at(i)} must be true, false, 0 or 1, got ${JSON.stringify(v)}`);
        (data as Uint8Array)[i] = v === true || v === 1 ? 1 : 0;
        break;
      case 'int64':
      case 'uint64': {
        let big: bigint | undefined;
        if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
        else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) big = BigInt(v);
        const min = type === 'int64' ? -(2n ** 63n) : 0n;
        const max = type === 'int64' ? 2n ** 63n - 1n : 2n ** 64n - 1n;
        if (big === undefined || big < min || big > max) bad(`${at(i)} must be a ${type} (an integer, or a decimal string past 2^53), got ${JSON.stringify(v)}`);
        (data as BigInt64Array)[i] = big as bigint;
        break;
      }
      default: {
        const [lo, hi] = INT_RANGE[type] as [number, number];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(`${at(i)} must be a ${type} integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
        (data as Int32Array)[i] = v as number;
      }
    }
  }
  return { type, dims: [...dims], data };
}

/**
 * A tensor's elements as JSON values (flat, row-major). 64-bit integers past
 * 2^53 become decimal strings rather than silently rounded numbers.
 *
 * @example
 * fromTensor({ type: 'bool', dims: [2], data: new Uint8Array([1, 0]) }); // [true, false]
 */
export function fromTensor(t: TensorData): unknown[] {
  switch (t.type) {
    case 'bool':
      return Array.from(t.data as Uint8Array, (x) => x !== 0);
    case 'float16':
      return Array.from(t.data as Uint16Array, fromHalfBits);
    case 'int64':
    case 'uint64':
      return Array.from(t.data as BigInt64Array, (x) => (x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString()));
    default:
      return Array.from(t.data as Float32Array);
  }
}

/**
 * Rows of a flat array as nested arrays of `shape` (shape[0] rows).
 *
 * @example
 * nest([1, 2, 3, 4], [2, 2]); // [[1, 2], [3, 4]]
 */
export function nest(values: readonly unknown[], shape: readonly number[]): unknown {
  if (shape.length === 0) return values[0];
  const [n, ...rest] = shape as [number, ...number[]];
  const size = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(nest(values.slice(i * size, (i + 1) * size), rest));
  return out;
}

/**
 * Checks a request tensor against the model's declared input: type, rank,
 * and every fixed dimension (-1 is dynamic). A 400 saying what was expected.
 *
 * @example
 * checkAgainstSpec(tensor, { name: 'x', type: 'float32', shape: [-1, 4] }, 'input "x"');
 */
export function checkAgainstSpec(t: TensorData, spec: TensorSpec, where: string): void {
  const want = `[${spec.shape.map((d) => (d < 0 ? '-1' : String(d))).join(', ')}]`;
  if (t.type !== spec.type) bad(`${where}: datatype must be ${oipDatatypeOf(spec.type)} (${spec.type}), got ${oipDatatypeOf(t.type)}`);
  if (t.dims.length !== spec.shape.length || t.dims.some((d, i) => (spec.shape[i] as number) >= 0 && d !== spec.shape[i])) {
    bad(`${where}: shape [${t.dims.join(', ')}] does not match the model's ${want} (-1: any size)`);
  }
}

// IEEE 754 half precision, round to nearest even; enough for JSON input.
function toHalfBits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = sign | (exp << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  return half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0);
}

function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
