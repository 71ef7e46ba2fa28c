/**
 * The app's model list: the host's catalogue (`GET /models`, each model with
 * its kind), or, offline, the models in this device's cache with the kind
 * read from their cached manifests.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { MODEL_KINDS, modelKind, type ModelKind } from '../pack/model-kind.ts';

export interface AppModel {
  name: string;
  kind: ModelKind;
}

/**
 * @example
 * const models = await appCatalogue(cache); // [{ name: 'ppocr-v4', kind: 'ocr' }, { name: 'tiny-llama', kind: 'text-generation' }]
 */
export async function appCatalogue(cache: ModelCache, fetchFn: typeof globalThis.fetch = globalThis.fetch.bind(globalThis)): Promise<AppModel[]> {
  try {
    const response = await fetchFn('/models', { headers: { Accept: 'application/json' } });
    if (response.ok) {
      const body = (await response.json()) as { models: { name: string; revision: string; kind?: string }[] };
      const models = await Promise.all(
        body.models.map(async (m) => ({ name: m.name, kind: MODEL_KINDS.includes(m.kind as ModelKind) ? (m.kind as ModelKind) : await cachedKind(cache, m.name, m.revision) })),
      );
      if (models.length > 0) return models;
    }
  } catch {
    // Offline: offer what is cached.
  }
  const cached = (await cache.listModels()).sort((a, b) => b.lastUsed - a.lastUsed);
  const seen = new Map<string, AppModel>();
  for (const m of cached) {
    if (!seen.has(m.name)) seen.set(m.name, { name: m.name, kind: await cachedKind(cache, m.name, m.revision) });
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The kind from a cached manifest; a model never loaded here (and a host too old to say) counts as OCR, the app's own kind. */
async function cachedKind(cache: ModelCache, name: string, revision: string): Promise<ModelKind> {
  const manifest = await cache.getManifest(name, revision);
  return manifest ? modelKind(manifest) : 'ocr';
}
