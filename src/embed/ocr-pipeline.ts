/**
 * The OCR pipeline as a page sees it: the `ppocr-v4` pipeline pack loaded
 * with `engine.loadPipeline` through Tessera's verified cache, plus what a
 * page needs around it: the Worker's URL layout and offline start. Offline, the current manifest cannot be fetched, so the
 * newest cached revision of the model is used instead.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { TesseraError, isTesseraError } from '../errors.ts';
import { fetchManifestSource } from '../fetch/fetch-manifest.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { Engine } from '../engine/engine.ts';
import { createEngine } from '../transport/create-engine.ts';
import { createInProcessEngine } from '../engine/in-process-engine.ts';
import type { OcrCallOptions } from '../engine/pipelines/pipeline.ts';
import type { OcrResult, RgbaImage } from '../engine/ocr/types.ts';
import type { Device, DeviceRequest } from '../protocol/device.ts';
import type { PackManifest } from '../pack/manifest.ts';

export interface OcrPipeline {
  manifest: PackManifest;
  device: Device;
  deviceReason: string;
  /** Where the manifest came from: the network, or the cache when offline. */
  manifestFrom: 'network' | 'cache';
  /** PNG/JPEG bytes (or a Blob/File), or RGBA pixels. */
  recognize(image: Uint8Array | Blob | RgbaImage, options?: OcrCallOptions): Promise<OcrResult & { totalMs: number }>;
  dispose(): Promise<void>;
}

export interface LoadOcrOptions {
  /** `.../models/<name>/manifest.json` (the Worker's current-revision URL). */
  manifestUrl: string;
  device?: DeviceRequest;
  cache: ModelCache;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
  /**
   * Default: a dedicated Web Worker when the model's host is this page's origin
   * (the app: the page stays responsive while OCR runs); in-process otherwise
   * (embed.js on another origin: a page may not start a Worker from our origin).
   */
  engine?: Engine;
}

/**
 * @example
 * const ocr = await loadOcrPipeline({ manifestUrl: 'https://host/models/ppocr-v4/manifest.json', cache: await defaultCache() });
 * const { text, lines } = await ocr.recognize(new Uint8Array(await file.arrayBuffer()));
 */
export async function loadOcrPipeline(options: LoadOcrOptions): Promise<OcrPipeline> {
  const { cache, signal } = options;
  const { manifest, from, baseUrl } = await resolveManifest(options.manifestUrl, cache, options.fetch, signal);
  const ownEngine = options.engine === undefined;
  const engine = options.engine ?? (await defaultEngine(options.manifestUrl, options.fetch));
  const pipeline = await engine.loadPipeline('ocr', manifest, {
    // A cache object cannot cross into the worker; the worker opens the same
    // IndexedDB store (same origin) from the spec.
    cache: engine.transport === 'worker' ? { type: 'default' } : cache,
    baseUrl,
    device: options.device ?? 'auto',
    ...(options.fetch && engine.transport === 'in-process' ? { fetch: options.fetch } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(signal ? { signal } : {}),
  });
  return {
    manifest,
    device: pipeline.device,
    deviceReason: pipeline.deviceReason,
    manifestFrom: from,
    async recognize(image, callOptions = {}) {
      const started = performance.now();
      const result = await pipeline.recognize(await toInput(image), callOptions);
      return { ...result, totalMs: performance.now() - started };
    },
    dispose: async () => {
      await pipeline.dispose();
      if (ownEngine) await engine.dispose();
    },
  };
}

async function defaultEngine(manifestUrl: string, customFetch: typeof globalThis.fetch | undefined): Promise<Engine> {
  const here = typeof location === 'undefined' ? undefined : location.href;
  const sameOrigin = here !== undefined && new URL(manifestUrl, here).origin === new URL(here).origin;
  // A custom fetch cannot be handed to a worker either: keep such loads in-process.
  if (sameOrigin && customFetch === undefined && typeof Worker === 'function') return createEngine({ transport: 'worker' });
  return createInProcessEngine();
}

async function toInput(image: Uint8Array | Blob | RgbaImage): Promise<Uint8Array | RgbaImage> {
  return image instanceof Blob ? new Uint8Array(await image.arrayBuffer()) : image;
}

/**
 * The current manifest from the network; when the network is unreachable,
 * the most recently used cached revision of the same model name.
 */
async function resolveManifest(
  url: string,
  cache: ModelCache,
  fetchFn: typeof globalThis.fetch | undefined,
  signal: AbortSignal | undefined,
): Promise<{ manifest: PackManifest; from: 'network' | 'cache'; baseUrl: string }> {
  try {
    // Files resolve against the revision the Worker names (Content-Location).
    const { manifest, manifestUrl } = await fetchManifestSource(url, { ...(fetchFn ? { fetch: fetchFn } : {}), signal });
    return { manifest, from: 'network', baseUrl: manifestUrl };
  } catch (error) {
    if (!isTesseraError(error, 'network-error') && !(error instanceof TypeError)) throw error;
    const name = new URL(url).pathname.split('/').slice(-2, -1)[0] ?? '';
    const cached = (await cache.listModels()).filter((m) => m.name === name).sort((a, b) => b.lastUsed - a.lastUsed)[0];
    const manifest = cached ? await cache.getManifest(cached.name, cached.revision) : undefined;
    if (!manifest) {
      throw new TesseraError('network-error', `cannot reach ${url} and model "${name}" is not in the cache; connect once to download it`, { cause: error });
    }
    // Offline: every chunk comes from the cache, so the files' URL is never fetched.
    return { manifest, from: 'cache', baseUrl: url };
  }
}
