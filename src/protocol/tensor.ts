/**
 * Tensors as plain data: what crosses postMessage, BroadcastChannel and the
 * coordinator. No class, no backend object: `{ type, dims, data }` survives
 * structured clone, and `data.buffer` can be transferred instead of copied.
 *
 * int64/uint64 use BigInt64Array/BigUint64Array (what ONNX Runtime hands back);
 * float16 travels as its raw bits in a Uint16Array (Float16Array is not in
 * every runtime yet); bool as a Uint8Array of 0/1.
 */
import { TesseraError } from '../errors.ts';

/** The ONNX element types Tessera passes through, named as ONNX Runtime Web names them. */
export type TensorType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

export type TensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface TensorData {
  type: TensorType;
  dims: number[];
  data: TensorArray;
}

/** Named tensors: a model's feeds or its outputs. */
export type TensorMap = Record<string, TensorData>;

/** The typed array constructor each element type is carried in. */
const ARRAY_OF: Record<TensorType, { name: string; bytes: number }> = {
  float32: { name: 'Float32Array', bytes: 4 },
  float16: { name: 'Uint16Array', bytes: 2 },
  float64: { name: 'Float64Array', bytes: 8 },
  int8: { name: 'Int8Array', bytes: 1 },
  uint8: { name: 'Uint8Array', bytes: 1 },
  int16: { name: 'Int16Array', bytes: 2 },
  uint16: { name: 'Uint16Array', bytes: 2 },
  int32: { name: 'Int32Array', bytes: 4 },
  uint32: { name: 'Uint32Array', bytes: 4 },
  int64: { name: 'BigInt64Array', bytes: 8 },
  uint64: { name: 'BigUint64Array', bytes: 8 },
  bool: { name: 'Uint8Array', bytes: 1 },
};

/**
 * Whether a value names a TensorType (the one list the frame codec, message
 * parsers and validators share). Own keys only: `'toString' in ARRAY_OF` is true.
 *
 * @example
 * isTensorType('float16'); // true
 */
export function isTensorType(value: unknown): value is TensorType {
  return typeof value === 'string' && Object.hasOwn(ARRAY_OF, value);
}

/**
 * Bytes per element of a tensor type.
 *
 * @example
 * bytesPerElement('float16'); // 2
 */
export function bytesPerElement(type: TensorType): number {
  return ARRAY_OF[type].bytes;
}

/**
 * Checks that a value is a well-formed TensorData: a known type, integer
 * non-negative dims, and a typed array of the matching kind and length.
 * Throws `invalid-argument` naming the tensor and what to fix.
 *
 * @example
 * validateTensorData({ type: 'float32', dims: [1, 4], data: new Float32Array(4) }, 'x');
 */
export function validateTensorData(value: unknown, name: string): asserts value is TensorData {
  const fail = (what: string): never => {
    throw new TesseraError('invalid-argument', `tensor "${name}": ${what}`, { details: { tensor: name } });
  };
  if (typeof value !== 'object' || value === null) fail('expected { type, dims, data }');
  const v = value as Partial<TensorData>;
  if (!isTensorType(v.type)) {
    fail(`unknown type ${JSON.stringify(v.type)}; use one of ${Object.keys(ARRAY_OF).join(', ')}`);
  }
  const type = v.type as TensorType;
  if (!Array.isArray(v.dims) || !v.dims.every((d) => Number.isInteger(d) && d >= 0)) {
    fail('dims must be an array of non-negative integers');
  }
  const expected = ARRAY_OF[type].name;
  const data = v.data as unknown;
  // Match on the constructor's name, not instanceof: arrays from another realm
  // (a worker, an iframe) fail instanceof.
  const actual = ArrayBuffer.isView(data) ? data.constructor.name : Array.isArray(data) ? 'Array' : typeof data;
  if (actual !== expected) fail(`type ${type} needs data as a ${expected}, got ${actual}`);
  const count = (v.dims as number[]).reduce((a, b) => a * b, 1);
  const length = (data as TensorArray).length;
  if (length !== count) fail(`dims [${(v.dims as number[]).join(', ')}] hold ${count} elements but data has ${length}`);
}

/**
 * Checks every tensor of a map (feeds or outputs).
 *
 * @example
 * validateTensorMap(message.feeds, 'run.feeds');
 */
export function validateTensorMap(value: unknown, what: string): asserts value is TensorMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TesseraError('invalid-argument', `${what} must be an object of named tensors`);
  }
  for (const [name, tensor] of Object.entries(value)) validateTensorData(tensor, name);
}

/**
 * The buffers to transfer with a message carrying these tensors. Each buffer
 * once (transferring one twice throws), and never a SharedArrayBuffer (it
 * cannot be transferred; it is shared by the structured clone instead).
 *
 * @example
 * worker.postMessage({ type: 'run', id, feeds }, transferablesOf(feeds));
 */
export function transferablesOf(tensors: TensorMap): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of Object.values(tensors)) {
    const buffer = tensor.data.buffer;
    if (buffer instanceof ArrayBuffer) buffers.add(buffer);
  }
  return [...buffers];
}
