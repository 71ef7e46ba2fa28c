/**
 * The pack manifest: the one document that describes a model's files, their
 * SHA-256 and their fixed-size chunks. A chunk's identity is its hash, so two
 * packs that share bytes share cache entries and downloads.
 *
 * Chunk i of a file covers bytes [i * chunkSize, min(size, (i + 1) * chunkSize)).
 */

export const MANIFEST_FORMAT = 'tessera-pack';
export const MANIFEST_VERSION = 1;
/** 8 MiB: large enough that per-request overhead is small, small enough that a resume loses little. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
/** The largest ArrayBuffer a browser hands ONNX Runtime Web: 2 GiB - 1. */
export const MAX_FILE_SIZE = 2 ** 31 - 1;

/** What a file is for. `graph` is an ONNX model; `external-data` holds its initializers. */
export type FileRole = 'graph' | 'external-data' | 'config' | 'tokenizer' | 'other';

export interface PackFile {
  /** POSIX path relative to the pack root, e.g. `onnx/model.onnx`. Never absolute, never `..`. */
  path: string;
  size: number;
  /** Lower-case hex SHA-256 of the whole file (also its HTTP ETag). */
  sha256: string;
  role: FileRole;
  /** Lower-case hex SHA-256 of each chunk, in order. */
  chunks: string[];
}

/** One runnable ONNX graph in the pack and the external data files it references. */
export interface PackGraph {
  /** Path of the `.onnx` file. */
  path: string;
  /**
   * Pack paths of its external data files. They always sit in the graph's own
   * folder, so the name ONNX Runtime expects (the graph's `location` field, the
   * `path` of an `externalData` entry) is the part after the last `/`.
   */
  externalData: string[];
}

export interface PackManifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  /** Model name, e.g. `ppocr-v4-det`. */
  name: string;
  /** Content-derived revision id (hex), stable for identical input. */
  revision: string;
  chunkSize: number;
  /** `onnx` for a single graph (with external data), `hf` for a Hugging Face-style folder. */
  kind: 'onnx' | 'hf';
  /** Runnable graphs. An `onnx` pack has exactly one; an `hf` pack may have several. */
  graphs: PackGraph[];
  files: PackFile[];
  /** Total bytes of all files. */
  totalBytes: number;
}
