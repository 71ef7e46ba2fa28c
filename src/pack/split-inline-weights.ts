/**
 * A graph with inline weights (`raw_data` inside the `.onnx`, as Hugging Face
 * exports under 2 GiB ship them) rewritten so that each large initializer
 * becomes external data that points at its own bytes *inside the original
 * file*: `location` is the file itself, `offset` where its `raw_data`
 * payload starts. No weight byte is copied or moved; the result is only the
 * graph without them (nodes, small tensors, metadata: usually well under 1%
 * of the file), and ONNX Runtime then reads each initializer from the
 * original file (a Blob of cached chunks, mounted by ORT's JSPI build) the
 * way it reads any external data file.
 *
 * The file is walked on the protobuf wire format through a windowed reader,
 * so a Blob is read only around the field headers: a payload that moves out
 * is skipped, never read. Only the top-level graph's initializers move;
 * subgraph tensors, typed-field tensors (`float_data`, ...), tensors that are
 * already external and tensors under `minBytes` stay as they were.
 * Browser-safe: no `node:` imports.
 */
import protobuf from 'protobufjs';
import { TesseraError } from '../errors.ts';
import {
  DATA_LOCATION_EXTERNAL,
  GRAPH_INITIALIZER,
  MODEL_GRAPH,
  TENSOR_DATA_LOCATION,
  TENSOR_EXTERNAL_DATA,
  TENSOR_RAW_DATA,
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_VARINT,
} from './onnx-wire.ts';

/** Random access to a file's bytes. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [start, end); end is at most `size`. */
  read(start: number, end: number): Promise<Uint8Array>;
}

export interface SplitOptions {
  /** The name the graph gives the original file as its external data (how the caller mounts it for ORT). */
  location: string;
  /** Initializers smaller than this stay inline. Default 1024 (as onnx's convert_model_to_external_data). */
  minBytes?: number;
  /** The file's name, for error messages. */
  file?: string;
  /** Largest window read around field headers. Default 1 MiB. */
  windowBytes?: number;
}

export interface SplitGraph {
  /** The graph, its large initializers pointing into the original file. */
  graph: Uint8Array;
  location: string;
  /** Initializers that now point into the file, and their bytes. */
  tensors: number;
  bytes: number;
}

/** The first window after a jump: a tensor's dims, type, name and raw_data header. */
const MIN_WINDOW = 16 * 1024;

/**
 * @example
 * const split = await splitInlineWeights(blobSource(modelBlob), { location: 'model.onnx' });
 * await ort.InferenceSession.create(split.graph, { externalData: [{ path: split.location, data: modelBlob }] });
 */
export async function splitInlineWeights(source: ByteSource, options: SplitOptions): Promise<SplitGraph> {
  const file = options.file ?? 'the model';
  const reader = new WindowReader(source, options.windowBytes ?? 1 << 20, file);
  const minBytes = options.minBytes ?? 1024;
  const entries = (offset: number, length: number) => [
    entry('location', options.location),
    entry('offset', String(offset)),
    entry('length', String(length)),
  ];
  let tensors = 0;
  let bytes = 0;

  const splitTensor = async (start: number, end: number): Promise<Uint8Array[] | undefined> => {
    const kept: Uint8Array[] = [];
    let raw: { offset: number; length: number } | undefined;
    let rawFields = 0;
    let external = false;
    for await (const f of reader.fields(start, end)) {
      if (f.field === TENSOR_RAW_DATA && f.wire === WIRE_BYTES) {
        rawFields += 1;
        raw = { offset: f.payload, length: f.end - f.payload };
        continue;
      }
      if (f.field === TENSOR_DATA_LOCATION && f.wire === WIRE_VARINT && (await reader.varintAt(f.payload)).value === DATA_LOCATION_EXTERNAL) external = true;
      kept.push(await reader.bytes(f.start, f.end));
    }
    // Repeated raw_data (the last one wins in protobuf) or already external: leave it exactly as it is.
    if (!raw || rawFields > 1 || external || raw.length < minBytes) return undefined;
    tensors += 1;
    bytes += raw.length;
    for (const e of entries(raw.offset, raw.length)) kept.push(lengthDelimited(TENSOR_EXTERNAL_DATA, e));
    kept.push(varintField(TENSOR_DATA_LOCATION, DATA_LOCATION_EXTERNAL));
    return kept;
  };

  const splitGraph = async (start: number, end: number): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for await (const f of reader.fields(start, end)) {
      const split = f.field === GRAPH_INITIALIZER && f.wire === WIRE_BYTES ? await splitTensor(f.payload, f.end) : undefined;
      if (split) out.push(lengthDelimited(GRAPH_INITIALIZER, concat(split)));
      else out.push(await reader.bytes(f.start, f.end));
    }
    return out;
  };

  const out: Uint8Array[] = [];
  let graphs = 0;
  for await (const f of reader.fields(0, source.size)) {
    if (f.field === MODEL_GRAPH && f.wire === WIRE_BYTES) {
      graphs += 1;
      out.push(lengthDelimited(MODEL_GRAPH, concat(await splitGraph(f.payload, f.end))));
    } else out.push(await reader.bytes(f.start, f.end));
  }
  if (graphs !== 1) throw new TesseraError('invalid-model', `${file} is not an ONNX model: it has ${graphs} graph fields, expected 1`, { details: { file } });
  return { graph: concat(out), location: options.location, tensors, bytes };
}

/**
 * @example
 * const source = blobSource(await cache.getFileBlob());
 */
export function blobSource(blob: Blob): ByteSource {
  return { size: blob.size, read: async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()) };
}

/**
 * @example
 * const split = await splitInlineWeights(bytesSource(modelBytes), { location: 'model.onnx' });
 */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.byteLength, read: async (start, end) => bytes.subarray(start, end) };
}

interface Field {
  field: number;
  wire: number;
  /** The tag's first byte. */
  start: number;
  /** The value's first byte (after a length for length-delimited fields). */
  payload: number;
  end: number;
}

/**
 * Reads a source around field headers, a window at a time. A window that
 * follows the last one doubles (a run of small fields: node lists), one after
 * a jump (past a payload that moves out) starts small again, so each large
 * initializer costs one small read, not a window of its weights.
 */
class WindowReader {
  #window: Uint8Array = new Uint8Array(0);
  #at = 0;
  #next = MIN_WINDOW;
  readonly #source: ByteSource;
  readonly #windowBytes: number;
  readonly #file: string;

  constructor(source: ByteSource, windowBytes: number, file: string) {
    this.#source = source;
    this.#windowBytes = windowBytes;
    this.#file = file;
  }

  /** The fields of the message in [start, end), in order. */
  async *fields(start: number, end: number): AsyncGenerator<Field> {
    let pos = start;
    while (pos < end) {
      const tag = await this.varintAt(pos);
      const field = Math.floor(tag.value / 8);
      const wire = tag.value % 8;
      let payload = tag.next;
      let next: number;
      if (wire === WIRE_VARINT) next = (await this.varintAt(payload)).next;
      else if (wire === WIRE_FIXED64) next = payload + 8;
      else if (wire === WIRE_FIXED32) next = payload + 4;
      else if (wire === WIRE_BYTES) {
        const length = await this.varintAt(payload);
        payload = length.next;
        next = payload + length.value;
      } else throw this.#error(`unsupported wire type ${wire} at byte ${pos}`);
      if (field === 0 || next > end) throw this.#error(`a field at byte ${pos} runs past the end of its message (byte ${end})`);
      yield { field, wire, start: pos, payload, end: next };
      pos = next;
    }
  }

  async varintAt(pos: number): Promise<{ value: number; next: number }> {
    const window = await this.#span(pos, Math.min(10, this.#source.size - pos));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < window.byteLength; i++) {
      const b = window[i] as number;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) break;
        return { value, next: pos + i + 1 };
      }
      scale *= 128;
    }
    throw this.#error(`a malformed varint at byte ${pos}`);
  }

  /** A copy-free view when the window holds it, else a fresh read. */
  async bytes(start: number, end: number): Promise<Uint8Array> {
    if (end - start > this.#windowBytes) return this.#source.read(start, end);
    return this.#span(start, end - start);
  }

  async #span(pos: number, length: number): Promise<Uint8Array> {
    if (pos < 0 || length < 0 || pos + length > this.#source.size) throw this.#error(`a field at byte ${pos} runs past the end of the file`);
    if (pos < this.#at || pos + length > this.#at + this.#window.byteLength) {
      const sequential = pos >= this.#at && pos <= this.#at + this.#window.byteLength;
      this.#next = sequential ? Math.min(this.#next * 2, this.#windowBytes) : MIN_WINDOW;
      this.#at = pos;
      this.#window = await this.#source.read(pos, Math.min(this.#source.size, pos + Math.max(length, this.#next)));
    }
    return this.#window.subarray(pos - this.#at, pos - this.#at + length);
  }

  #error(what: string): TesseraError {
    return new TesseraError('invalid-model', `${this.#file} is not a readable ONNX model: ${what}`, { details: { file: this.#file } });
  }
}

function entry(key: string, value: string): Uint8Array {
  return protobuf.Writer.create().uint32(10).string(key).uint32(18).string(value).finish();
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  return protobuf.Writer.create().uint32(field * 8 + WIRE_BYTES).bytes(payload).finish();
}

function varintField(field: number, value: number): Uint8Array {
  return protobuf.Writer.create().uint32(field * 8 + WIRE_VARINT).uint32(value).finish();
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * The name a split graph gives its own file as external data: the file's
 * base name (`onnx/model.onnx` -> `model.onnx`), which no external data file
 * the graph already names can have.
 *
 * @example
 * splitLocation('onnx/model.onnx'); // 'model.onnx'
 */
export function splitLocation(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
