/**
 * The OCR pipeline as a page sees it: the `ppocr-v4` pipeline pack loaded
 * with `engine.loadPipeline` through Tessera's verified cache, plus what a
 * page needs around it: the Worker's URL layout and offline start. Offline, the current manifest cannot be fetched, so the
 * newest cached revision of the model is used instead.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { pageLoadOptions } from './page-load-options.ts';
import { resolveManifest } from './resolve-manifest.ts';
import { pageEngine } from './page-engine.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { Engine } from '../engine/engine.ts';
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
  const engine = options.engine ?? (await pageEngine(options.manifestUrl, options.fetch));
  const pipeline = await engine.loadPipeline('ocr', manifest, pageLoadOptions(engine, { ...options, baseUrl }));
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

async function toInput(image: Uint8Array | Blob | RgbaImage): Promise<Uint8Array | RgbaImage> {
  return image instanceof Blob ? new Uint8Array(await image.arrayBuffer()) : image;
}
