/** Serving packs: manifest, full GET, ranges, conditionals, headers. */
import { beforeAll, describe, expect, it } from 'vitest';
import { body, bytes, get, makePack, publish, type TestPack } from './fixtures.ts';

export function serveSuite(): void {
  describe('serving packs', () => {
    let pack: TestPack;
    let rev: string;
    let data: Uint8Array;
    let sha: string;
    const SIZE = 20_000;
    const url = (): string => `/models/alpha/${rev}/weights/model.onnx.data`;

    beforeAll(async () => {
      data = bytes(SIZE, 7);
      pack = await makePack('alpha', [
        { path: 'model.onnx', bytes: bytes(3000, 1) },
        { path: 'weights/model.onnx.data', bytes: data },
        { path: 'empty.txt', bytes: new Uint8Array(0) },
      ]);
      await publish(pack);
      rev = pack.manifest.revision;
      sha = pack.manifest.files.find((f) => f.path === 'weights/model.onnx.data')!.sha256;
    });

    it('serves the current manifest with no-cache and revalidates it by ETag', async () => {
      const res = await get('/models/alpha/manifest.json');
      expect(res.status).toBe(200);
      expect(res.headers.get('Cache-Control')).toBe('no-cache');
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
      expect(await res.json()).toEqual(pack.manifest);
      const etag = res.headers.get('ETag')!;
      expect(etag).toBe(`"rev-${rev}"`);
      const again = await get('/models/alpha/manifest.json', { 'If-None-Match': etag });
      expect(again.status).toBe(304);
    });

    it('serves a revision manifest as immutable', async () => {
      const res = await get(`/models/alpha/${rev}/manifest.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
      expect(((await res.json()) as { revision: string }).revision).toBe(rev);
    });

    it('answers 404 JSON for a model never published', async () => {
      const res = await get('/models/nobody/manifest.json');
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { name: 'TesseraError', code: 'not-found', message: 'model "nobody" has no published revision' } });
    });

    it('serves a whole file with strong ETag, ranges, caching, CORS and CORP headers', async () => {
      const res = await get(url());
      expect(res.status).toBe(200);
      expect(await body(res)).toEqual(data);
      expect(res.headers.get('ETag')).toBe(`"${sha}"`);
      expect(res.headers.get('Accept-Ranges')).toBe('bytes');
      expect(res.headers.get('Content-Length')).toBe(String(SIZE));
      expect(res.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable, no-transform');
      expect(res.headers.get('Cross-Origin-Resource-Policy')).toBe('cross-origin');
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
      const exposed = res.headers.get('Access-Control-Expose-Headers')!.toLowerCase();
      for (const h of ['etag', 'content-range', 'content-length', 'accept-ranges']) expect(exposed).toContain(h);
    });

    it('serves an empty file', async () => {
      const res = await get(`/models/alpha/${rev}/empty.txt`);
      expect(res.status).toBe(200);
      expect((await body(res)).byteLength).toBe(0);
      expect(res.headers.get('Content-Type')).toContain('text/plain');
    });

    it.each([
      ['first bytes', 'bytes=0-99', 0, 99],
      ['a middle range', 'bytes=1000-1999', 1000, 1999],
      ['a suffix', 'bytes=-100', SIZE - 100, SIZE - 1],
      ['an open-ended range', 'bytes=19990-', 19990, SIZE - 1],
      ['an end past the file, clamped', 'bytes=19000-99999', 19000, SIZE - 1],
      ['a suffix longer than the file', 'bytes=-999999', 0, SIZE - 1],
      ['the last byte', `bytes=${SIZE - 1}-${SIZE - 1}`, SIZE - 1, SIZE - 1],
    ])('answers 206 for %s', async (_label, range, start, end) => {
      const res = await get(url(), { Range: range });
      expect(res.status).toBe(206);
      expect(res.headers.get('Content-Range')).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(res.headers.get('Content-Length')).toBe(String(end - start + 1));
      expect(res.headers.get('ETag')).toBe(`"${sha}"`);
      expect(await body(res)).toEqual(data.subarray(start, end + 1));
    });

    it.each([
      ['a start past the end', 'bytes=20000-'],
      ['a start far past the end', 'bytes=30000-30010'],
      ['an empty suffix', 'bytes=-0'],
    ])('answers 416 with bytes */size for %s', async (_label, range) => {
      const res = await get(url(), { Range: range });
      expect(res.status).toBe(416);
      expect(res.headers.get('Content-Range')).toBe(`bytes */${SIZE}`);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('range-not-satisfiable');
    });

    it('answers 416 range-not-supported for several ranges (never multipart)', async () => {
      const res = await get(url(), { Range: 'bytes=0-1,5-6' });
      expect(res.status).toBe(416);
      expect(res.headers.get('Content-Range')).toBe(`bytes */${SIZE}`);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('range-not-supported');
    });

    it.each([['bytes=abc'], ['bytes=5-2'], ['items=0-1'], ['bytes=-'], ['0-10']])('ignores the malformed Range %s and sends 200 (RFC 9110)', async (range) => {
      const res = await get(url(), { Range: range });
      expect(res.status).toBe(200);
      expect((await body(res)).byteLength).toBe(SIZE);
    });

    it('any range of an empty file is unsatisfiable', async () => {
      const res = await get(`/models/alpha/${rev}/empty.txt`, { Range: 'bytes=0-' });
      expect(res.status).toBe(416);
      expect(res.headers.get('Content-Range')).toBe('bytes */0');
    });

    it('honours If-Range with the matching strong ETag, and sends everything otherwise', async () => {
      const match = await get(url(), { Range: 'bytes=10-19', 'If-Range': `"${sha}"` });
      expect(match.status).toBe(206);
      expect(await body(match)).toEqual(data.subarray(10, 20));
      for (const ifRange of ['"0000"', `W/"${sha}"`, 'Wed, 21 Oct 2015 07:28:00 GMT']) {
        const miss = await get(url(), { Range: 'bytes=10-19', 'If-Range': ifRange });
        expect(miss.status, ifRange).toBe(200);
        expect(await body(miss)).toEqual(data);
      }
    });

    it('answers 304 to If-None-Match with our ETag or *, and 200 otherwise', async () => {
      for (const tag of [`"${sha}"`, `"x", W/"${sha}"`, '*']) {
        const res = await get(url(), { 'If-None-Match': tag });
        expect(res.status, tag).toBe(304);
        expect(res.headers.get('ETag')).toBe(`"${sha}"`);
      }
      const other = await get(url(), { 'If-None-Match': '"other"' });
      expect(other.status).toBe(200);
      await other.arrayBuffer();
    });

    it('answers HEAD with the length and no body', async () => {
      const res = await get(url(), {}, 'HEAD');
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Length')).toBe(String(SIZE));
      expect(res.headers.get('ETag')).toBe(`"${sha}"`);
      expect((await body(res)).byteLength).toBe(0);
    });

    it('answers a CORS preflight for ranged GETs', async () => {
      const res = await get(url(), {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'range, if-range',
      }, 'OPTIONS');
      expect(res.status).toBe(204);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
      expect(res.headers.get('Access-Control-Allow-Methods')).toContain('GET');
      const allowed = res.headers.get('Access-Control-Allow-Headers')!.toLowerCase();
      expect(allowed).toContain('range');
      expect(allowed).toContain('if-range');
    });

    it('serves the HTML entry cross-origin isolated', async () => {
      const res = await get('/');
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toContain('text/html');
      expect(res.headers.get('Cross-Origin-Opener-Policy')).toBe('same-origin');
      expect(res.headers.get('Cross-Origin-Embedder-Policy')).toBe('require-corp');
      await res.text();
    });

    it('answers 404 for unknown files, revisions and routes, and 400 for a malformed revision', async () => {
      expect((await get(`/models/alpha/${rev}/nope.bin`)).status).toBe(404);
      expect((await get('/models/alpha/0123456789abcdef/model.onnx')).status).toBe(404);
      expect((await get('/models/alpha/NOT-HEX/model.onnx')).status).toBe(400);
      const unknown = await get('/nowhere');
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not-found');
    });
  });
}
