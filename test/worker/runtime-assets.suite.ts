/**
 * /assets/*.wasm: ONNX Runtime's wasm, too big for Workers static assets, is
 * published as the `onnxruntime-web` pack and reached by a redirect.
 */
import { describe, expect, it } from 'vitest';
import { SELF } from 'cloudflare:test';
import { BASE, body, bytes, get, makePack, publish } from './fixtures.ts';

export function runtimeAssetsSuite(): void {
  describe('runtime wasm from R2', () => {
    it('is 404 with a hint before the runtime pack is published', async () => {
      const res = await get('/assets/ort-wasm-simd-threaded.jsep.wasm');
      expect(res.status).toBe(404);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('not-found');
      expect(error.message).toContain('npm start');
    });

    it('redirects to the current revision, served as application/wasm; the catalogue does not list it', async () => {
      const wasm = bytes(10_000, 7);
      const pack = await makePack('onnxruntime-web', [{ path: 'assets/ort-test.wasm', bytes: wasm }]);
      await publish(pack);
      const res = await SELF.fetch(`${BASE}/assets/ort-test.wasm`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const location = res.headers.get('Location')!;
      expect(location).toBe(`/models/onnxruntime-web/${pack.manifest.revision}/assets/ort-test.wasm`);
      const file = await get(location);
      expect(file.status).toBe(200);
      expect(file.headers.get('Content-Type')).toBe('application/wasm');
      // Sent as stored: no on-the-fly gzip at the edge (which would drop Content-Length and
      // chunk the body), so the browser compiles it once, streaming, as it arrives.
      expect(file.headers.get('Content-Encoding')).toBe('identity');
      expect(file.headers.get('Cache-Control')).toMatch(/\bno-transform\b/);
      expect(file.headers.get('Content-Length')).toBe(String(wasm.byteLength));
      expect(await body(file)).toEqual(wasm);

      expect((await get('/assets/not-there.wasm')).status).toBe(404);
      expect((await get('/assets/..%2Fmanifest.wasm')).status).toBe(404);
      const catalogue = (await (await get('/models')).json()) as { models: Array<{ name: string }> };
      expect(catalogue.models.map((m) => m.name)).not.toContain('onnxruntime-web');
    });
  });
}
