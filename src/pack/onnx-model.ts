/**
 * Reads and writes ONNX models with protobufjs and the full onnx.proto schema,
 * plus the tensor helpers the packer needs (byte sizes, raw little-endian
 * bytes of any initializer). Browser-safe: no `node:` imports.
 */
import { TesseraError } from '../errors.ts';
import { decodeOnnx, onnxType } from './onnx-schema.ts';
import {
  DATA_LOCATION_EXTERNAL,
  DataType,
  type GraphProto,
  type Int64,
  type ModelProto,
  type TensorProto,
} from './onnx-types.ts';

/** The newest IR version this schema knows (onnx.proto `IR_VERSION`). */
const KNOWN_IR_VERSION = 14;

/**
 * Decodes an ONNX model and checks that it looks like one: protobuf happily
 * "decodes" many non-ONNX byte strings (unknown fields are skipped), so a
 * model without an IR version or a graph is rejected here.
 *
 * @example
 * const model = decodeModel(await readFile('model.onnx'), 'model.onnx');
 */
export function decodeModel(bytes: Uint8Array, file = 'model'): ModelProto {
  if (bytes.byteLength === 0) {
    throw invalid(file, 'the file is empty');
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    throw invalid(file, 'this is a PNG image, not an ONNX model');
  }
  let model: ModelProto;
  try {
    model = decodeOnnx('ModelProto', bytes) as ModelProto;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw invalid(file, `the protobuf is corrupt or truncated (${reason})`, cause);
  }
  const ir = model.ir_version === undefined ? 0 : int64ToNumber(model.ir_version);
  if (!(ir >= 1 && ir <= KNOWN_IR_VERSION)) {
    throw invalid(file, model.ir_version === undefined ? 'it has no ir_version, so it is not an ONNX ModelProto' : `ir_version ${ir} is not a known ONNX IR version (1..${KNOWN_IR_VERSION})`);
  }
  if (!model.graph) {
    throw invalid(file, 'it has no graph');
  }
  if ((model.graph.output ?? []).length === 0) {
    throw invalid(file, 'its graph has no outputs');
  }
  return model;
}

/**
 * Encodes a model (as decoded by {@link decodeModel}, or a plain object of the
 * same shape) to protobuf bytes. Fields are written in field-number order, as
 * the C++ runtime does, so decode -> encode is byte-identical for its output.
 *
 * @example
 * await writeFile('out.onnx', encodeModel(model));
 */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnxType('ModelProto').encode(model).finish();
}

/** An int64 field as a JS number (exact up to 2^53, which covers every size and offset we use). */
export function int64ToNumber(value: Int64): number {
  if (typeof value === 'number') return value;
  if (typeof value.toNumber === 'function') return value.toNumber();
  const high = value.unsigned ? value.high >>> 0 : value.high;
  return high * 2 ** 32 + (value.low >>> 0);
}

/** Bits per element; 0 for types whose size is not fixed (strings). */
export function bitsPerElement(dataType: number): number {
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 32;
    case DataType.DOUBLE:
    case DataType.INT64:
    case DataType.UINT64:
    case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    case DataType.UINT8:
    case DataType.INT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return 8;
    case DataType.UINT16:
    case DataType.INT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 16;
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT2:
    case DataType.INT2:
      return 2;
    default:
      return 0;
  }
}

/** Number of elements given by a tensor's dims. */
export function elementCount(tensor: TensorProto): number {
  return (tensor.dims ?? []).reduce<number>((n, d) => n * int64ToNumber(d), 1);
}

/** Bytes of the tensor's data when stored raw (sub-byte types are packed), or undefined for strings. */
export function tensorByteLength(tensor: TensorProto): number | undefined {
  const bits = bitsPerElement(tensor.data_type ?? 0);
  if (bits === 0) return undefined;
  return Math.ceil((elementCount(tensor) * bits) / 8);
}

export function isExternal(tensor: TensorProto): boolean {
  return tensor.data_location === DATA_LOCATION_EXTERNAL;
}

/** `external_data` entries as a map (`location`, `offset`, `length`, `checksum`, ...). */
export function externalDataEntries(tensor: TensorProto): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of tensor.external_data ?? []) map.set(entry.key ?? '', entry.value ?? '');
  return map;
}

/**
 * The tensor's inline data as raw little-endian bytes, whichever field holds it
 * (raw_data, float_data, int32_data, ...), exactly as ONNX defines raw_data for
 * that type; undefined for strings or external tensors.
 *
 * @example
 * const bytes = inlineTensorBytes(initializer); // Float32 weights -> 4 bytes each
 */
export function inlineTensorBytes(tensor: TensorProto): Uint8Array | undefined {
  if (isExternal(tensor)) return undefined;
  const type = tensor.data_type ?? 0;
  if (type === DataType.STRING || bitsPerElement(type) === 0) return undefined;
  if (tensor.raw_data && tensor.raw_data.byteLength > 0) return tensor.raw_data;
  const length = tensorByteLength(tensor) ?? 0;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  switch (type) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      (tensor.float_data ?? []).forEach((v, i) => view.setFloat32(i * 4, v, true));
      return out;
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      (tensor.double_data ?? []).forEach((v, i) => view.setFloat64(i * 8, v, true));
      return out;
    case DataType.INT64:
      (tensor.int64_data ?? []).forEach((v, i) => view.setBigInt64(i * 8, int64ToBigInt(v), true));
      return out;
    case DataType.UINT64:
    case DataType.UINT32:
      // ONNX stores uint32 and uint64 in uint64_data.
      (tensor.uint64_data ?? []).forEach((v, i) => {
        if (type === DataType.UINT32) view.setUint32(i * 4, int64ToNumber(v) >>> 0, true);
        else view.setBigUint64(i * 8, BigInt.asUintN(64, int64ToBigInt(v)), true);
      });
      return out;
    case DataType.INT32:
      (tensor.int32_data ?? []).forEach((v, i) => view.setInt32(i * 4, v, true));
      return out;
    case DataType.UINT16:
    case DataType.INT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      // 16-bit types live bit-wise in the low half of each int32_data element.
      (tensor.int32_data ?? []).forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
      return out;
    default:
      // 8-bit and packed sub-byte types: one byte per int32_data element
      // (sub-byte values are already packed two or four to a byte there).
      (tensor.int32_data ?? []).forEach((v, i) => {
        if (i < length) out[i] = v & 0xff;
      });
      return out;
  }
}

/** Removes every inline data field, so the tensor can point at external data. */
export function clearInlineData(tensor: TensorProto): void {
  delete tensor.raw_data;
  for (const field of ['float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data'] as const) {
    if (tensor[field] && tensor[field].length > 0) tensor[field] = [];
  }
}

/**
 * Every TensorProto stored in a graph that may hold weights, in a fixed order:
 * initializers, then Constant-style attribute tensors, then the same for each
 * subgraph (If/Loop/Scan bodies), depth first.
 */
export function graphTensors(graph: GraphProto, out: { tensor: TensorProto; initializer: boolean }[] = []) {
  for (const tensor of graph.initializer ?? []) out.push({ tensor, initializer: true });
  for (const node of graph.node ?? []) {
    for (const attr of node.attribute ?? []) {
      if (attr.t) out.push({ tensor: attr.t, initializer: false });
      for (const t of attr.tensors ?? []) out.push({ tensor: t, initializer: false });
      if (attr.g) graphTensors(attr.g, out);
      for (const g of attr.graphs ?? []) graphTensors(g, out);
    }
  }
  return out;
}

function int64ToBigInt(value: Int64): bigint {
  if (typeof value === 'number') return BigInt(value);
  return (BigInt(value.high) << 32n) | BigInt(value.low >>> 0);
}

function invalid(file: string, what: string, cause?: unknown): TesseraError {
  return new TesseraError('invalid-model', `${file} is not a valid ONNX model: ${what}`, {
    cause,
    details: { file },
  });
}
