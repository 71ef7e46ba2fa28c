/**
 * `window.tessera`: what a page gets from `<script type="module" src="https://<host>/embed.js">`.
 * Models come from the host that served the script; weights go through
 * Tessera's verified IndexedDB cache of the page's origin.
 */
import type { CachedModel, ModelCache, StorageEstimate } from '../cache/model-cache.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import { loadOcrPipeline, type OcrPipeline } from './ocr-pipeline.ts';
import { createSharedOcr, type SharedOcr, type SharedOcrResult } from './shared-ocr.ts';
import { serveOcr } from './serve-ocr.ts';

export interface TesseraApi {
  /** The Worker the script came from, e.g. `https://tessera.example/`. */
  host: string;
  /** Pipeline kinds this script can load. */
  pipelines: readonly ['ocr'];
  /** Names of the models the host publishes (its catalogue). */
  models(): Promise<string[]>;
  /** Loads a model's OCR pipeline in this tab. */
  load(model?: string, options?: { device?: DeviceRequest; onProgress?: (p: LoadProgress) => void; signal?: AbortSignal }): Promise<OcrPipeline>;
  /** Reads the text in an image, sharing one loaded model among this origin's tabs. */
  run(image: Uint8Array | Blob, options?: { model?: string; signal?: AbortSignal }): Promise<SharedOcrResult>;
  /** The shared OCR for a model (one per model per tab). */
  ocr(model?: string, options?: { device?: DeviceRequest }): SharedOcr;
  cache: {
    list(): Promise<CachedModel[]>;
    delete(name: string, revision?: string): Promise<void>;
    estimate(): Promise<StorageEstimate>;
    persist(): Promise<boolean>;
  };
  /** Joins the coordinator as a session serving `model`; call only from a user action. */
  serve(options: { token: string; model?: string; onServed?: () => void }): Promise<{ close(): Promise<void> }>;
}

/**
 * @example
 * window.tessera = createTesseraApi({ host: new URL('.', import.meta.url).href, cache: () => defaultCache() });
 */
export function createTesseraApi(options: { host: string; cache: () => Promise<ModelCache>; fetch?: typeof globalThis.fetch }): TesseraApi {
  const host = options.host;
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const manifestUrl = (model: string) => new URL(`models/${encodeURIComponent(model)}/manifest.json`, host).href;
  const shared = new Map<string, Promise<SharedOcr>>();
  let cache: Promise<ModelCache> | undefined;
  const getCache = () => (cache ??= options.cache());

  const ocr = (model = 'ppocr-v4', ocrOptions: { device?: DeviceRequest } = {}): SharedOcr => {
    // The shared OCR needs the cache, which opens asynchronously: wrap so
    // callers get a SharedOcr synchronously (the element creates it lazily).
    let entry = shared.get(model);
    if (!entry) {
      entry = getCache().then((c) => createSharedOcr({ manifestUrl: manifestUrl(model), cache: c, fetch: fetchFn, ...ocrOptions }));
      shared.set(model, entry);
    }
    const ready = entry;
    return {
      get tabId() {
        return '';
      },
      get role() {
        return 'follower' as const;
      },
      pipeline: ready.then((s) => s.pipeline),
      recognize: async (image, o) => (await ready).recognize(image, o),
      close: () => void ready.then((s) => s.close()),
    };
  };

  return {
    host,
    pipelines: ['ocr'] as const,
    async models() {
      const response = await fetchFn(new URL('models', host));
      const body = (await response.json()) as { models?: { name: string }[] };
      return (body.models ?? []).map((m) => m.name);
    },
    async load(model = 'ppocr-v4', o = {}) {
      return loadOcrPipeline({ manifestUrl: manifestUrl(model), cache: await getCache(), fetch: fetchFn, ...o });
    },
    async run(image, o = {}) {
      const bytes = image instanceof Uint8Array ? image : new Uint8Array(await image.arrayBuffer());
      return ocr(o.model).recognize(bytes, o.signal ? { signal: o.signal } : {});
    },
    ocr,
    cache: {
      list: async () => (await getCache()).listModels(),
      delete: async (name, revision) => (await getCache()).deleteModel(name, revision),
      estimate: async () => (await getCache()).estimate(),
      persist: async () => (await getCache()).persist(),
    },
    async serve(o) {
      const model = ocr(o.model);
      const pipeline = await model.pipeline;
      return serveOcr({ host, token: o.token, manifest: pipeline.manifest, device: pipeline.device, ocr: model, ...(o.onServed ? { onServed: o.onServed } : {}) });
    },
  };
}
