/**
 * Plans where every weight of a model lives in external data files: inline
 * initializers above a size threshold move out, already-external tensors are
 * re-laid out, and the data is split across files of at most `maxFileSize`
 * bytes (2 GiB - 1 by default: the largest ArrayBuffer a browser hands ONNX
 * Runtime Web). The model is rewritten in place; the bytes themselves are
 * only described (`segments`), so a Node writer can stream them to disk
 * without holding them twice. Browser-safe: no `node:` imports.
 */
import { TesseraError } from '../errors.ts';
import { MAX_FILE_SIZE } from './manifest.ts';
import {
  clearInlineData,
  externalDataEntries,
  graphTensors,
  inlineTensorBytes,
  isExternal,
  tensorByteLength,
} from './onnx-model.ts';
import { DATA_LOCATION_EXTERNAL, type ModelProto, type TensorProto } from './onnx-types.ts';

/** Where a tensor's bytes come from. */
export type TensorSource =
  | { type: 'bytes'; bytes: Uint8Array }
  | { type: 'file'; location: string; offset: number; length: number };

export interface ExternalSegment {
  /** Tensor name, for messages. */
  name: string;
  offset: number;
  length: number;
  source: TensorSource;
}

export interface ExternalFilePlan {
  /** Location as written in the graph: relative to the graph's directory. */
  location: string;
  size: number;
  /** Sorted by offset; the gaps between them are zero padding. */
  segments: ExternalSegment[];
}

export interface ExternalizeOptions {
  /** Inline initializers smaller than this stay inline. Default 1024 (as onnx's convert_model_to_external_data). */
  minBytes?: number;
  /** Largest external data file. Default {@link MAX_FILE_SIZE}. */
  maxFileSize?: number;
  /** Names the data files: `${baseName}.data`, `${baseName}.1.data`, ... Default `model.onnx`. */
  baseName?: string;
  /** false: keep inline weights inline (external ones are still re-laid out). Default true. */
  externalize?: boolean;
  /** Size of an existing external data file, or undefined when it is missing. Needed when the model has external tensors. */
  sizeOf?: (location: string) => number | undefined;
  /** The model file's name, for error messages. */
  file?: string;
}

/** Tensors at least this big start on a 4 KiB boundary, small ones on 64 bytes. */
const LARGE_TENSOR = 1024 * 1024;
const PAGE_ALIGN = 4096;
const MIN_ALIGN = 64;

/**
 * Offsets are aligned because ONNX Runtime (node/native) memory-maps external
 * data and can only map tensors whose offset is page-aligned; it aligns large
 * tensors to 4096 itself when saving (ModelSavingOptions: align_threshold 1 MiB,
 * on_disk_alignment_factor 4096). Small tensors get 64 bytes: enough for any
 * element type and SIMD loads, and cheap in padding.
 */
export function alignmentFor(length: number): number {
  return length >= LARGE_TENSOR ? PAGE_ALIGN : MIN_ALIGN;
}

/**
 * Rewrites `model` so its weights point at new external data files and
 * returns the layout of those files. Deterministic: the same model and
 * options always give the same layout.
 *
 * @example
 * const { files } = externalizeInitializers(model, { baseName: 'model.onnx', sizeOf: (loc) => sizes.get(loc) });
 * // files[0].location === 'model.onnx.data'; write each segment at its offset
 */
export function externalizeInitializers(model: ModelProto, options: ExternalizeOptions = {}): { files: ExternalFilePlan[] } {
  const minBytes = options.minBytes ?? 1024;
  const maxFileSize = options.maxFileSize ?? MAX_FILE_SIZE;
  const baseName = options.baseName ?? 'model.onnx';
  const file = options.file ?? baseName;
  if (!Number.isInteger(maxFileSize) || maxFileSize < 1 || maxFileSize > MAX_FILE_SIZE) {
    throw new TesseraError('invalid-argument', `max file size must be an integer between 1 and ${MAX_FILE_SIZE}, got ${maxFileSize}`);
  }
  const graph = model.graph;
  if (!graph) return { files: [] };

  const moves: { tensor: TensorProto; name: string; length: number; source: TensorSource }[] = [];
  for (const { tensor, initializer } of graphTensors(graph)) {
    const name = tensor.name ?? '(unnamed)';
    if (isExternal(tensor)) {
      moves.push({ tensor, name, ...readExternalSource(tensor, name, file, options.sizeOf) });
    } else if (initializer && options.externalize !== false) {
      const bytes = inlineTensorBytes(tensor);
      if (bytes && bytes.byteLength >= minBytes) moves.push({ tensor, name, length: bytes.byteLength, source: { type: 'bytes', bytes } });
    }
  }

  // Lay tensors out in graph order, starting a new file when the next one
  // would cross maxFileSize. A single tensor cannot be split across files.
  const layout: { segments: ExternalSegment[]; size: number }[] = [];
  let current: { segments: ExternalSegment[]; size: number } | undefined;
  const placed: { tensor: TensorProto; fileIndex: number; offset: number; length: number }[] = [];
  for (const move of moves) {
    if (move.length > maxFileSize) {
      throw new TesseraError('invalid-model', `${file}: tensor "${move.name}" holds ${move.length} bytes, more than the largest file allowed (${maxFileSize}); one tensor cannot be split across files`, {
        details: { file, tensor: move.name },
      });
    }
    let offset = current ? alignUp(current.size, alignmentFor(move.length)) : 0;
    if (!current || offset + move.length > maxFileSize) {
      current = { segments: [], size: 0 };
      layout.push(current);
      offset = 0;
    }
    current.segments.push({ name: move.name, offset, length: move.length, source: move.source });
    current.size = offset + move.length;
    placed.push({ tensor: move.tensor, fileIndex: layout.length - 1, offset, length: move.length });
  }

  const locations = layout.map((_, i) => (i === 0 ? `${baseName}.data` : `${baseName}.${i}.data`));
  for (const { tensor, fileIndex, offset, length } of placed) {
    const kept = (tensor.external_data ?? []).filter((e) => e.key !== 'location' && e.key !== 'offset' && e.key !== 'length');
    clearInlineData(tensor);
    tensor.external_data = [
      { key: 'location', value: locations[fileIndex] },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
      ...kept,
    ];
    tensor.data_location = DATA_LOCATION_EXTERNAL;
  }
  return { files: layout.map((f, i) => ({ location: locations[i] as string, size: f.size, segments: f.segments })) };
}

/** Checks an external tensor's location/offset/length against the data file it names. */
function readExternalSource(
  tensor: TensorProto,
  name: string,
  file: string,
  sizeOf: ((location: string) => number | undefined) | undefined,
): { length: number; source: TensorSource } {
  const entries = externalDataEntries(tensor);
  const location = entries.get('location');
  const fail = (what: string) =>
    new TesseraError('invalid-model', `${file}: tensor "${name}" ${what}`, { details: { file, tensor: name, location } });
  if (!location) throw fail('is marked external but has no location');
  if (location.startsWith('/') || location.includes('\\') || location.split('/').some((p) => p === '..' || p === '')) {
    throw fail(`has external data location "${location}", which must be a relative path inside the model's folder`);
  }
  const offset = parseNonNegative(entries.get('offset') ?? '0');
  if (offset === undefined) throw fail(`has an invalid external data offset "${entries.get('offset')}"`);
  const size = sizeOf?.(location);
  if (size === undefined) throw fail(`needs the external data file "${location}", which is missing`);
  const expected = tensorByteLength(tensor);
  const lengthEntry = entries.get('length');
  let length: number;
  if (lengthEntry !== undefined) {
    const parsed = parseNonNegative(lengthEntry);
    if (parsed === undefined) throw fail(`has an invalid external data length "${lengthEntry}"`);
    length = parsed;
  } else {
    length = expected ?? size - offset;
  }
  if (expected !== undefined && length !== expected) {
    throw fail(`has external data length ${length}, but its type and dims need ${expected} bytes`);
  }
  if (offset + length > size) {
    throw fail(`points at bytes ${offset}..${offset + length} of "${location}", which is only ${size} bytes long`);
  }
  return { length, source: { type: 'file', location, offset, length } };
}

function parseNonNegative(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
