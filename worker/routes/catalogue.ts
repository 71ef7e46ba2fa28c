/**
 * GET /models: the catalogue, every published model with its current
 * revision and its kind (`text-generation`, `ocr`, `hf`, `onnx`: see
 * src/pack/model-kind.ts), read from R2 (`models/<name>/current` and the
 * revision's manifest). The PWA's model picker and `tessera.models()` read
 * it; the kind tells them which surface (chat, OCR, pipeline, raw) to show
 * before any weight is fetched.
 */
import { Hono } from 'hono';
import { modelKind, type ModelKind } from '../../src/pack/model-kind.ts';
import type { AppEnv } from '../env.ts';
import { ManifestStore } from '../lib/manifest-store.ts';
import { RUNTIME_PACK } from './runtime-assets.ts';

/** @example app.route('/', catalogueRoutes()); */
export function catalogueRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/models', async (c) => {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await c.env.PACKS.list({ prefix: 'models/', delimiter: '/', ...(cursor ? { cursor } : {}) });
      for (const prefix of page.delimitedPrefixes) {
        const name = prefix.slice('models/'.length, -1);
        // The web runtime's wasm is stored as a pack but is not a model to pick.
        if (name !== RUNTIME_PACK) names.push(name);
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    const store = new ManifestStore(c.env.PACKS);
    const models: { name: string; revision: string; kind?: ModelKind }[] = [];
    for (const name of names.sort()) {
      const revision = await store.current(name);
      if (revision === null) continue;
      // Revision manifests are immutable and cached per isolate: one R2 read per model, once.
      const manifest = await store.revision(name, revision);
      models.push({ name, revision, ...(manifest ? { kind: modelKind(manifest) } : {}) });
    }
    return c.json({ models }, 200, { 'Cache-Control': 'no-cache' });
  });
  return routes;
}
