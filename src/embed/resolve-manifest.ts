/**
 * Finding a published model from a page: its name or manifest URL on the
 * host, the current manifest (or, offline, the newest cached revision), and
 * the folder its files live in. Shared by OCR, raw models, pipelines and
 * text generation so each works offline the same way.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { TesseraError, isTesseraError } from '../errors.ts';
import { fetchManifestSource } from '../fetch/fetch-manifest.ts';
import type { PackManifest } from '../pack/manifest.ts';

/**
 * A model name becomes the Worker's current-manifest URL on `host`; a URL (absolute,
 * or relative to `host`, ending in `manifest.json`) is taken as it is.
 *
 * @example
 * modelManifestUrl('https://t.example/', 'tiny-llama'); // 'https://t.example/models/tiny-llama/manifest.json'
 * modelManifestUrl('https://t.example/', 'https://cdn.example/models/x/manifest.json'); // unchanged
 */
export function modelManifestUrl(host: string, model: string): string {
  if (typeof model !== 'string' || model.trim() === '') {
    throw new TesseraError('invalid-argument', `a model is its published name (e.g. "ppocr-v4") or its manifest.json URL, got ${JSON.stringify(model)}`);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(model) || model.endsWith('manifest.json')) return new URL(model, host).href;
  return new URL(`models/${encodeURIComponent(model)}/manifest.json`, host).href;
}

/**
 * Files live under the revision (`/models/<name>/<revision>/<path>`, immutable).
 *
 * @example
 * revisionBaseUrl('https://t.example/models/x/manifest.json', manifest); // 'https://t.example/models/x/3f2a.../'
 */
export function revisionBaseUrl(manifestUrl: string, manifest: PackManifest): string {
  return new URL(`${manifest.revision}/`, new URL('./', manifestUrl)).href;
}

/**
 * The current manifest from the network; when the network is unreachable,
 * the most recently used cached revision of the same model name. With it,
 * the URL its files resolve against: the revision the Worker names
 * (`Content-Location`), else the revision's folder beside the manifest URL.
 *
 * @example
 * const { manifest, from, baseUrl } = await resolveManifest(url, cache); // from: 'network' | 'cache'
 */
export async function resolveManifest(
  url: string,
  cache: ModelCache,
  fetchFn?: typeof globalThis.fetch,
  signal?: AbortSignal,
): Promise<{ manifest: PackManifest; from: 'network' | 'cache'; baseUrl: string }> {
  try {
    const { manifest, manifestUrl } = await fetchManifestSource(url, { ...(fetchFn ? { fetch: fetchFn } : {}), signal });
    return { manifest, from: 'network', baseUrl: manifestUrl !== url ? manifestUrl : revisionBaseUrl(url, manifest) };
  } catch (error) {
    if (!isTesseraError(error, 'network-error') && !(error instanceof TypeError)) throw error;
    const name = decodeURIComponent(new URL(url).pathname.split('/').slice(-2, -1)[0] ?? '');
    const cached = (await cache.listModels()).filter((m) => m.name === name).sort((a, b) => b.lastUsed - a.lastUsed)[0];
    const manifest = cached ? await cache.getManifest(cached.name, cached.revision) : undefined;
    if (!manifest) {
      throw new TesseraError('network-error', `cannot reach ${url} and model "${name}" is not in the cache; connect once to download it`, { cause: error });
    }
    // Offline every chunk comes from the cache, so this URL is never fetched.
    return { manifest, from: 'cache', baseUrl: revisionBaseUrl(url, manifest) };
  }
}
