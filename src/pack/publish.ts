/**
 * Publishes a pack to a Tessera Worker: asks which blobs the bucket lacks,
 * uploads only those (each verified by the Worker against its SHA-256), then
 * commits the manifest, which switches the model's current revision last.
 * Runs anywhere with fetch and Blob (Node, browsers, workerd); the caller
 * supplies the file bytes, e.g. `fs.openAsBlob` in Node so nothing is buffered.
 */
import { TesseraError, fromErrorResponse, throwIfAborted } from '../errors.ts';
import type { PackManifest } from './manifest.ts';

/** Progress events, in order: one `plan`, `upload` as bytes go out, one `committed`. */
export type PublishProgress =
  | { type: 'plan'; totalFiles: number; missingFiles: number; missingBytes: number }
  | { type: 'upload'; path: string; loadedBytes: number; missingBytes: number }
  | { type: 'committed'; revision: string };

export interface PublishOptions {
  /** The Worker's origin, e.g. `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** The admin token (`TESSERA_ADMIN_TOKEN` on the Worker). */
  token: string;
  manifest: PackManifest;
  /** The bytes of one pack file, by its manifest path. */
  readFile: (path: string) => Promise<Blob>;
  fetch?: typeof fetch;
  onProgress?: (event: PublishProgress) => void;
  signal?: AbortSignal;
  /** Files uploaded at once (default 3). */
  concurrency?: number;
}

export interface PublishResult {
  name: string;
  revision: string;
  uploadedFiles: number;
  uploadedBytes: number;
  /** Files whose bytes the bucket already had (any model, any revision). */
  skippedFiles: number;
}

/** The Worker answers at most this many hashes per `missing` query. */
const MISSING_BATCH = 1000;

/**
 * @example
 * const result = await publishPack({
 *   baseUrl: 'http://127.0.0.1:8787',
 *   token: process.env.TESSERA_ADMIN_TOKEN!,
 *   manifest,
 *   readFile: (path) => openAsBlob(join(packDir, path)),
 * });
 * // result.uploadedFiles === 1 when only one file changed since the last revision
 */
export async function publishPack(options: PublishOptions): Promise<PublishResult> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = options.baseUrl.replace(/\/+$/, '');
  const { manifest, signal } = options;
  const name = encodeURIComponent(manifest.name);
  const auth = { Authorization: `Bearer ${options.token}` };
  const call = async (path: string, init: RequestInit): Promise<Response> => {
    throwIfAborted(signal);
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, { ...init, signal: signal ?? null, headers: { ...auth, ...(init.headers as Record<string, string>) } });
    } catch (error) {
      if (signal?.aborted) throw new TesseraError('aborted', 'publishing was aborted', { cause: error });
      throw new TesseraError('network-error', `could not reach ${base}: ${String(error)}`, { cause: error });
    }
    if (!response.ok) throw await fromErrorResponse(response, path);
    return response;
  };

  // Plan: one file per distinct hash (two paths with the same bytes upload once).
  const byHash = new Map(manifest.files.map((f) => [f.sha256, f]));
  const missing = new Set<string>();
  const hashes = [...byHash.keys()];
  for (let i = 0; i < hashes.length; i += MISSING_BATCH) {
    const response = await call('/admin/blobs/missing', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sha256: hashes.slice(i, i + MISSING_BATCH) }),
    });
    for (const h of ((await response.json()) as { missing: string[] }).missing) missing.add(h);
  }
  const toUpload = [...missing].map((h) => byHash.get(h)!);
  const missingBytes = toUpload.reduce((sum, f) => sum + f.size, 0);
  options.onProgress?.({ type: 'plan', totalFiles: manifest.files.length, missingFiles: toUpload.length, missingBytes });

  let loadedBytes = 0;
  const queue = [...toUpload];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const blob = await options.readFile(file.path);
      if (blob.size !== file.size) {
        throw new TesseraError('invalid-manifest', `${file.path} is ${blob.size} bytes on disk but the manifest says ${file.size}; rebuild the pack`, {
          details: { path: file.path },
        });
      }
      const path = file.path;
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          loadedBytes += chunk.byteLength;
          options.onProgress?.({ type: 'upload', path, loadedBytes, missingBytes });
          controller.enqueue(chunk);
        },
      });
      await call(`/admin/models/${name}/blobs/${file.sha256}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(file.size) },
        body: blob.stream().pipeThrough(counter),
        // Node's fetch needs this for a streamed request body.
        duplex: 'half',
      } as RequestInit);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 3) }, worker));

  await call(`/admin/models/${name}/revisions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(manifest),
  });
  options.onProgress?.({ type: 'committed', revision: manifest.revision });
  return {
    name: manifest.name,
    revision: manifest.revision,
    uploadedFiles: toUpload.length,
    uploadedBytes: missingBytes,
    skippedFiles: byHash.size - toUpload.length,
  };
}
