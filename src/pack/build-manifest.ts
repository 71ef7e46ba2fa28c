/**
 * Builds a {@link PackManifest} from files already in memory. The Node packer
 * (`pack-model.ts`) streams large files instead; both must agree on chunking,
 * hashing and the revision, which `revisionOf` defines.
 */
import { TesseraError } from '../errors.ts';
import {
  DEFAULT_CHUNK_SIZE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MAX_FILE_SIZE,
  type FileRole,
  type PackFile,
  type PackGraph,
  type PackManifest,
} from './manifest.ts';
import { sha256Hex } from './sha256.ts';

export interface ManifestInputFile {
  path: string;
  bytes: Uint8Array;
  role: FileRole;
}

/**
 * Hashes each file and each fixed-size chunk.
 *
 * @example
 * const manifest = await buildManifest({
 *   name: 'mlp',
 *   kind: 'onnx',
 *   graphs: [{ path: 'model.onnx', externalData: ['model.onnx.data'] }],
 *   files: [
 *     { path: 'model.onnx', bytes: graph, role: 'graph' },
 *     { path: 'model.onnx.data', bytes: weights, role: 'external-data' },
 *   ],
 * });
 */
export async function buildManifest(input: {
  name: string;
  kind: PackManifest['kind'];
  graphs: PackGraph[];
  files: ManifestInputFile[];
  chunkSize?: number;
}): Promise<PackManifest> {
  const chunkSize = input.chunkSize ?? DEFAULT_CHUNK_SIZE;
  validateChunkSize(chunkSize);
  const files: PackFile[] = [];
  for (const file of input.files) {
    validatePackPath(file.path);
    if (file.bytes.byteLength > MAX_FILE_SIZE) {
      throw new TesseraError('invalid-model', `${file.path} is ${file.bytes.byteLength} bytes; a pack file may hold at most ${MAX_FILE_SIZE}`, {
        details: { file: file.path },
      });
    }
    const chunks: string[] = [];
    for (let offset = 0; offset < file.bytes.byteLength; offset += chunkSize) {
      chunks.push(await sha256Hex(file.bytes.subarray(offset, Math.min(offset + chunkSize, file.bytes.byteLength))));
    }
    files.push({ path: file.path, size: file.bytes.byteLength, sha256: await sha256Hex(file.bytes), role: file.role, chunks });
  }
  return assembleManifest({ name: input.name, kind: input.kind, graphs: input.graphs, files, chunkSize });
}

/** Puts hashed files together into a manifest (sorted by path, revision derived). */
export async function assembleManifest(input: {
  name: string;
  kind: PackManifest['kind'];
  graphs: PackGraph[];
  files: PackFile[];
  chunkSize: number;
}): Promise<PackManifest> {
  const files = [...input.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    name: input.name,
    revision: await revisionOf(input.chunkSize, input.graphs, files),
    chunkSize: input.chunkSize,
    kind: input.kind,
    graphs: input.graphs,
    files,
    totalBytes,
  };
}

/**
 * A revision is the first 16 hex digits of the SHA-256 of the pack's content
 * (chunk size, graphs, file paths and hashes): the same input always gives the
 * same revision, and any change to any byte gives a new one.
 */
export async function revisionOf(chunkSize: number, graphs: PackGraph[], files: PackFile[]): Promise<string> {
  const canonical = JSON.stringify({
    chunkSize,
    graphs,
    files: files.map((f) => [f.path, f.size, f.sha256, f.role]),
  });
  return (await sha256Hex(new TextEncoder().encode(canonical))).slice(0, 16);
}

export function validateChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 4096 || chunkSize > 256 * 1024 * 1024) {
    throw new TesseraError('invalid-argument', `chunk size must be an integer between 4 KiB and 256 MiB, got ${chunkSize}`);
  }
}

/** Pack paths are relative POSIX paths that cannot climb out of the pack. */
export function validatePackPath(path: string): void {
  const bad =
    path.length === 0 ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\0') ||
    path.split('/').some((part) => part === '' || part === '.' || part === '..');
  if (bad) {
    throw new TesseraError('invalid-manifest', `"${path}" is not a valid pack path: use a relative POSIX path without "." or ".." parts`, {
      details: { path },
    });
  }
}
