/**
 * Binary frames: how tensors travel between the coordinator and sessions over
 * a WebSocket. A JSON number array costs ~10 bytes and a parse per float32;
 * a frame carries the raw little-endian bytes, so a 1 MiB tensor is 1 MiB on
 * the wire and decodes into a typed array view without a copy.
 *
 * Layout (all integers little-endian):
 *
 * ```
 * 0   4 bytes  magic "TSF1"
 * 4   4 bytes  uint32 header length H (bytes of UTF-8 JSON)
 * 8   H bytes  JSON { h: <caller header>, t: [{ type, dims, offset, bytes }] }
 *     padding  zero bytes up to the next multiple of 8
 * P   payload  tensor i at P + t[i].offset, each offset a multiple of 8
 * ```
 *
 * Offsets are 8-byte aligned so a BigInt64Array/Float64Array view can be made
 * in place (typed array views need offset % elementSize === 0). Every length is
 * checked against the frame size before a view is made: a truncated or forged
 * frame throws `bad-request`, never a RangeError from deep inside a view.
 */
import { TesseraError } from '../errors.ts';
import { bytesPerElement, isTensorType, validateTensorData, type TensorArray, type TensorData, type TensorType } from './tensor.ts';

const MAGIC = [0x54, 0x53, 0x46, 0x31]; // "TSF1"
const PREFIX_BYTES = 8;
/** A header larger than this is refused before it is parsed (names, ids and dims only). */
export const MAX_FRAME_HEADER_BYTES = 1 << 20;

interface TensorDescriptor {
  type: TensorType;
  dims: number[];
  offset: number;
  bytes: number;
}

/** A decoded frame: the caller's header and the tensors in the order they were encoded. */
export interface Frame<H = unknown> {
  header: H;
  tensors: TensorData[];
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/**
 * Encodes a JSON-able header and tensors into one binary frame.
 *
 * @example
 * const bytes = encodeFrame({ type: 'infer', requestIds: ['a'] }, [
 *   { type: 'float32', dims: [1, 3], data: new Float32Array([1, 2, 3]) },
 * ]);
 * ws.send(bytes);
 */
export function encodeFrame(header: unknown, tensors: readonly TensorData[]): Uint8Array {
  const descriptors: TensorDescriptor[] = [];
  let offset = 0;
  tensors.forEach((tensor, i) => {
    validateTensorData(tensor, `#${i}`);
    const bytes = tensor.data.byteLength;
    descriptors.push({ type: tensor.type, dims: [...tensor.dims], offset, bytes });
    offset = align8(offset + bytes);
  });
  const json = new TextEncoder().encode(JSON.stringify({ h: header, t: descriptors }));
  const payloadStart = align8(PREFIX_BYTES + json.byteLength);
  const out = new Uint8Array(payloadStart + offset);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, json.byteLength, true);
  out.set(json, PREFIX_BYTES);
  tensors.forEach((tensor, i) => {
    const d = descriptors[i] as TensorDescriptor;
    out.set(toLittleEndianBytes(tensor.data), payloadStart + d.offset);
  });
  return out;
}

/**
 * Decodes a frame made by {@link encodeFrame}. Tensor data are views into
 * `bytes` when aligned (no copy), copies otherwise.
 *
 * @example
 * const { header, tensors } = decodeFrame(new Uint8Array(event.data));
 */
export function decodeFrame<H = unknown>(input: Uint8Array | ArrayBuffer): Frame<H> {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const fail = (what: string): never => {
    throw new TesseraError('bad-request', `tensor frame: ${what}`);
  };
  if (bytes.byteLength < PREFIX_BYTES) fail(`${bytes.byteLength} bytes is shorter than the 8-byte prefix`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) fail('bad magic: not a Tessera tensor frame (expected "TSF1")');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(4, true);
  if (headerBytes > MAX_FRAME_HEADER_BYTES) fail(`header of ${headerBytes} bytes exceeds ${MAX_FRAME_HEADER_BYTES}`);
  if (PREFIX_BYTES + headerBytes > bytes.byteLength) {
    fail(`truncated: header needs ${headerBytes} bytes but only ${bytes.byteLength - PREFIX_BYTES} follow`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes)));
  } catch (cause) {
    throw new TesseraError('bad-request', 'tensor frame: header is not valid UTF-8 JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { t?: unknown }).t)) {
    fail('header must be { h, t: [...] }');
  }
  const { h, t } = parsed as { h: H; t: unknown[] };
  const payloadStart = align8(PREFIX_BYTES + headerBytes);
  const payloadBytes = bytes.byteLength - payloadStart;
  let expectedOffset = 0;
  const tensors = t.map((raw, i): TensorData => {
    const d = raw as Partial<TensorDescriptor>;
    if (typeof d !== 'object' || d === null) fail(`tensor ${i}: descriptor must be an object`);
    if (!isTensorType(d.type)) fail(`tensor ${i}: unknown type ${JSON.stringify(d.type)}`);
    const type = d.type as TensorType;
    if (!Array.isArray(d.dims) || !d.dims.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      fail(`tensor ${i}: dims must be non-negative integers`);
    }
    const dims = d.dims as number[];
    const count = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count)) fail(`tensor ${i}: dims [${dims.join(', ')}] overflow`);
    const size = count * bytesPerElement(type);
    if (d.bytes !== size) fail(`tensor ${i}: ${type} [${dims.join(', ')}] needs ${size} bytes, header says ${String(d.bytes)}`);
    // Offsets must be exactly where encodeFrame puts them: no gaps, no overlaps.
    if (d.offset !== expectedOffset) fail(`tensor ${i}: offset ${String(d.offset)}, expected ${expectedOffset}`);
    if (expectedOffset + size > payloadBytes) {
      fail(`truncated: tensor ${i} needs bytes ${expectedOffset}..${expectedOffset + size} of a ${payloadBytes}-byte payload`);
    }
    const data = fromLittleEndianBytes(type, bytes, payloadStart + expectedOffset, count);
    expectedOffset = align8(expectedOffset + size);
    return { type, dims: [...dims], data };
  });
  if (payloadBytes > expectedOffset) fail(`${payloadBytes - expectedOffset} trailing bytes after the last tensor`);
  return { header: h, tensors };
}

// Every engine Tessera runs on (x86, ARM, WebAssembly) is little-endian; the
// check keeps a big-endian host correct rather than silently wrong.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toLittleEndianBytes(data: TensorArray): Uint8Array {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return HOST_LITTLE_ENDIAN ? raw : swapBytes(raw, data.BYTES_PER_ELEMENT);
}

function fromLittleEndianBytes(type: TensorType, bytes: Uint8Array, start: number, count: number): TensorArray {
  const size = bytesPerElement(type);
  const absolute = bytes.byteOffset + start;
  let buffer = bytes.buffer as ArrayBuffer;
  let offset = absolute;
  if (absolute % size !== 0 || !HOST_LITTLE_ENDIAN) {
    const copy = bytes.slice(start, start + count * size);
    const fixed = HOST_LITTLE_ENDIAN ? copy : swapBytes(copy, size);
    buffer = fixed.buffer as ArrayBuffer;
    offset = fixed.byteOffset;
  }
  return makeArray(type, buffer, offset, count);
}

function swapBytes(raw: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(raw.byteLength);
  for (let i = 0; i < raw.byteLength; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = raw[i + size - 1 - j] as number;
  }
  return out;
}

/**
 * A typed array of a tensor type over a buffer (or a new zeroed one when
 * `buffer` is a length). Shared with batching, which allocates outputs.
 *
 * @example
 * const data = makeArray('int64', 4); // BigInt64Array(4)
 */
export function makeArray(type: TensorType, buffer: ArrayBuffer | number, offset = 0, length?: number): TensorArray {
  const b = typeof buffer === 'number' ? new ArrayBuffer(buffer * bytesPerElement(type)) : buffer;
  const n = length ?? (b.byteLength - offset) / bytesPerElement(type);
  switch (type) {
    case 'float32':
      return new Float32Array(b, offset, n);
    case 'float64':
      return new Float64Array(b, offset, n);
    case 'float16':
    case 'uint16':
      return new Uint16Array(b, offset, n);
    case 'int8':
      return new Int8Array(b, offset, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(b, offset, n);
    case 'int16':
      return new Int16Array(b, offset, n);
    case 'int32':
      return new Int32Array(b, offset, n);
    case 'uint32':
      return new Uint32Array(b, offset, n);
    case 'int64':
      return new BigInt64Array(b, offset, n);
    case 'uint64':
      return new BigUint64Array(b, offset, n);
    default: {
      const never: never = type;
      throw new TesseraError('invalid-argument', `unknown tensor type ${String(never)}`);
    }
  }
}
