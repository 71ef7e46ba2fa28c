/**
 * Streams a request body into `blobs/<sha256>` and proves it is those bytes.
 *
 * Two checks, so a wrong upload is never readable under a hash it does not have:
 * - R2's own `sha256` put option: R2 (and local Miniflare) hashes while writing
 *   and rejects the put atomically on a mismatch, so nothing is stored.
 * - Our own `crypto.DigestStream` (a workerd API) on the same stream: defence
 *   in depth for a store that ignored the option; on a mismatch the key is deleted.
 *
 * R2 needs a stream of known length; a JS TransformStream loses the request's
 * length, so the hashed stream is re-framed through a `FixedLengthStream`. The
 * body is never buffered: memory stays flat for any blob size.
 */
import { bytesToHex } from '../../src/pack/sha256.ts';
import { HttpError } from '../http-error.ts';
import { blobKey } from './keys.ts';

/**
 * @example
 * await storeBlob(env.PACKS, sha256, request.body, Number(request.headers.get('Content-Length')));
 */
export async function storeBlob(bucket: R2Bucket, sha256: string, body: ReadableStream<Uint8Array> | null, size: number): Promise<void> {
  const key = blobKey(sha256);
  // The DOM lib's Crypto type (also in tsconfig) hides workerd's DigestStream.
  const digest = new (crypto as unknown as { DigestStream: typeof DigestStream }).DigestStream('SHA-256');
  const digestWriter = digest.getWriter();
  const hashing = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      await digestWriter.write(chunk);
      controller.enqueue(chunk);
    },
    async flush() {
      await digestWriter.close();
    },
  });
  const framed = new FixedLengthStream(size);
  const source = body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  const pump = source.pipeThrough(hashing).pipeTo(framed.writable);
  const put = bucket.put(key, framed.readable, { sha256, httpMetadata: { contentType: 'application/octet-stream' } });
  const [pumped, stored] = await Promise.allSettled([pump, put]);

  if (pumped.status === 'rejected') {
    if (stored.status === 'fulfilled') await bucket.delete(key);
    throw new HttpError(400, 'truncated-body', `the body did not carry the ${size} bytes its Content-Length announced`, { cause: pumped.reason });
  }
  const actual = bytesToHex(new Uint8Array(await digest.digest));
  if (actual !== sha256) {
    if (stored.status === 'fulfilled') await bucket.delete(key);
    throw new HttpError(400, 'integrity-error', `the uploaded bytes hash to ${actual}, not ${sha256}; nothing was stored`, {
      details: { expected: sha256, actual },
    });
  }
  if (stored.status === 'rejected') {
    throw new HttpError(500, 'internal', `storing blob ${sha256} failed: ${String(stored.reason)}`, { cause: stored.reason });
  }
}
