/**
 * ONNX Runtime's wasm binaries for the app and embed.js, from R2.
 *
 * Workers static assets stop at 25 MiB a file and ONNX Runtime Web's WebGPU
 * build is ~27 MiB, so `vite build` output keeps its `.wasm` files out of the
 * assets upload (public/.assetsignore) and they are published as the pack
 * `onnxruntime-web` instead (`npm start` does it). A request for
 * `/assets/<name>.wasm` that the assets did not answer lands here and is
 * redirected to that file in the pack's current revision, which the model
 * routes serve with ranges, a strong ETag and immutable caching.
 */
import { Hono } from 'hono';
import type { PackManifest } from '../../src/pack/manifest.ts';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { ManifestStore } from '../lib/manifest-store.ts';

/** The pack that holds the web runtime's wasm files (paths as in `dist/`). */
export const RUNTIME_PACK = 'onnxruntime-web';

/** @example app.route('/', runtimeAssetRoutes({ manifestCache })); */
export function runtimeAssetRoutes(options: { manifestCache?: Map<string, PackManifest> } = {}): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/assets/:file{[A-Za-z0-9._-]+\\.wasm}', async (c) => {
    const path = `assets/${c.req.param('file')}`;
    const store = new ManifestStore(c.env.PACKS, options.manifestCache);
    const revision = await store.current(RUNTIME_PACK);
    const manifest = revision === null ? null : await store.revision(RUNTIME_PACK, revision);
    if (manifest === null || !manifest.files.some((f) => f.path === path)) {
      throw new HttpError(404, 'not-found', `${path} is not published; run \`npm start\` (it publishes the ${RUNTIME_PACK} pack) or publish dist/'s wasm files`);
    }
    // Short-lived: the current revision changes when a new build is published.
    return c.redirect(`/models/${RUNTIME_PACK}/${manifest.revision}/${path}`, 302);
  });
  return routes;
}
