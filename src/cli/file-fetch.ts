/**
 * A `fetch` for `file:` URLs that honours single `Range` requests, so a pack
 * on disk goes through the same loader (chunk hashes, cache) as one served
 * over HTTP. Node's own fetch refuses `file:`. Other URLs pass through.
 */
import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * @example
 * await engine.loadPipeline('ocr', pathToFileURL('.tessera/packs/ppocr-v4/manifest.json').href, { fetch: fileFetch });
 */
export const fileFetch: typeof globalThis.fetch = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!url.startsWith('file:')) return globalThis.fetch(input, init);
  const path = fileURLToPath(url);
  const range = new Headers(init?.headers).get('Range');
  try {
    const match = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (!match) return new Response(new Uint8Array(await readFile(path)), { status: 200 });
    const start = Number(match[1]);
    const end = Number(match[2]);
    const file = await open(path, 'r');
    try {
      const size = (await file.stat()).size;
      if (start > end || start >= size) return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
      const last = Math.min(end, size - 1);
      const bytes = new Uint8Array(last - start + 1);
      await file.read(bytes, 0, bytes.length, start);
      return new Response(bytes, { status: 206, headers: { 'Content-Range': `bytes ${start}-${last}/${size}`, 'Content-Length': String(bytes.length) } });
    } finally {
      await file.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Response(`${path} not found`, { status: 404 });
    throw error;
  }
};
