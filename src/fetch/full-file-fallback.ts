/**
 * For servers that ignore `Range` (they answer 200 with the whole file and
 * the same ETag): one plain GET per file, cut into chunks as the body
 * streams, each chunk SHA-256-verified before it is handed on. Slower to
 * resume (a broken body restarts the file), but correct.
 */
import { TesseraError } from '../errors.ts';
import type { PackFile } from '../pack/manifest.ts';
import { sha256Hex } from '../pack/sha256.ts';
import { etagChanged, sameEtag, send, statusError } from './fetch-range.ts';
import { streamChunks } from './read-body.ts';

/**
 * @example
 * await fetchWholeFile({ url, file, chunkSize, fetch, signal }, async (i, bytes) => deliver(file.chunks[i], bytes));
 */
export async function fetchWholeFile(
  req: {
    url: string;
    file: PackFile;
    chunkSize: number;
    fetch: typeof globalThis.fetch;
    signal?: AbortSignal | undefined;
    onBytes?: ((n: number) => void) | undefined;
    /** A 200 answer already in hand (a ranged GET the server answered in full): streamed instead of asking again. */
    response?: Response | undefined;
  },
  onVerifiedChunk: (index: number, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const { file } = req;
  const ctx = { file: file.path, signal: req.signal, onBytes: req.onBytes };
  const response = req.response ?? (await send(req.fetch, req.url, {}, ctx));
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw statusError(response, { file: file.path, url: req.url });
  }
  const etag = response.headers.get('ETag');
  if (etag !== null && !sameEtag(etag, file.sha256)) {
    await response.body?.cancel().catch(() => {});
    throw etagChanged({ file: file.path, sha256: file.sha256, url: req.url }, etag, response);
  }
  const sizes = file.chunks.map((_, i) => Math.min(req.chunkSize, file.size - i * req.chunkSize));
  await streamChunks(response, sizes, ctx, async (index, bytes) => {
    const expected = file.chunks[index];
    const actual = await sha256Hex(bytes);
    if (actual !== expected) {
      throw new TesseraError('integrity-error', `${file.path} chunk ${index} failed its SHA-256 check (expected ${expected}, got ${actual})`, {
        details: { file: file.path, chunk: index, expected, actual },
      });
    }
    await onVerifiedChunk(index, bytes);
  });
}
