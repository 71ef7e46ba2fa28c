/**
 * A `fetch` for `file:` URLs that honours single `Range` requests (the Worker's rules), so a pack
 * on disk goes through the same loader (chunk hashes, cache) as one served
 * over HTTP. Node's own fetch refuses `file:`. Other URLs pass through.
 */
import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../errors.ts';
import { parseRange } from '../protocol/parse-range.ts';

/**
 * @example
 * await engine.loadPipeline('ocr', pathToFileURL('.tessera/packs/ppocr-v4/manifest.json').href, { fetch: fileFetch });
 */
export const fileFetch: typeof globalThis.fetch = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!url.startsWith('file:')) return globalThis.fetch(input, init);
  const path = fileURLToPath(url);
  const header = new Headers(init?.headers).get('Range');
  try {
    if (header === null) return new Response(new Uint8Array(await readFile(path)), { status: 200 });
    const file = await open(path, 'r');
    try {
      const size = (await file.stat()).size;
      // The Worker's rules (src/protocol/parse-range.ts), so a pack on disk loads as one served does.
      const range = parseRange(header, size);
      switch (range.type) {
        case 'ignore':
          return new Response(new Uint8Array(await readFile(path)), { status: 200 });
        case 'multiple':
        case 'unsatisfiable':
          return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
        case 'range': {
          const bytes = new Uint8Array(range.end - range.start + 1);
          await file.read(bytes, 0, bytes.length, range.start);
          return new Response(bytes, { status: 206, headers: { 'Content-Range': `bytes ${range.start}-${range.end}/${size}`, 'Content-Length': String(bytes.length) } });
        }
        default: {
          const never: never = range;
          throw new TesseraError('internal', `unhandled range decision ${JSON.stringify(never)}`);
        }
      }
    } finally {
      await file.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Response(`${path} not found`, { status: 404 });
    throw error;
  }
};
