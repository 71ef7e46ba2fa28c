/**
 * `window.tessera`: what a page gets from `<script type="module" src="https://<host>/embed.js">`,
 * the whole runtime rather than one widget. Any model the host publishes
 * loads by its name (or a manifest URL): raw ONNX sessions (`load`),
 * transformers.js pipelines (`pipeline`), OCR (`ocr`, `run`) and text
 * generation (`generate`, `chat`, streaming). Weights go through Tessera's
 * verified IndexedDB cache of the page's origin.
 */
import type { CachedModel, ModelCache, StorageEstimate } from '../cache/model-cache.ts';
import type { Engine, ModelHandle } from '../engine/engine.ts';
import type { HfPipeline, HfPipelineOptions } from '../engine/hf/pipeline.ts';
import { TesseraError } from '../errors.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import { MODEL_KINDS, modelKind, type ModelKind } from '../pack/model-kind.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import type { ChatMessage, GenerateRequest, SamplingOptions } from '../protocol/generation.ts';
import { deferredStream } from './deferred-stream.ts';
import { loadPageGenerator, type PageGenerator } from './load-generator.ts';
import { foreignPipelineWorker, pageEngine, sameOriginAsPage } from './page-engine.ts';
import { modelManifestUrl, resolveManifest } from './resolve-manifest.ts';
import { createSharedOcr, type SharedOcr, type SharedOcrResult } from './shared-ocr.ts';
import { serveOcr } from './serve-ocr.ts';
import { serveGeneration } from './serve-generation.ts';
import type { GenerateCallOptions, GenerationStream } from '../engine/generate/text-generator.ts';

export interface ModelLoadOptions {
  device?: DeviceRequest;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

/** A catalogue entry: what the host publishes. */
export interface CatalogueEntry {
  name: string;
  revision: string;
  kind: ModelKind;
}

/** Options of one generation: sampling, streaming callback, cancellation, and how to load the model the first time. */
export type StreamOptions = SamplingOptions & GenerateCallOptions & { device?: DeviceRequest; onProgress?: (p: LoadProgress) => void };

export interface TesseraApi {
  /** The Worker the script came from, e.g. `https://tessera.example/`. */
  host: string;
  /** Model kinds this script can run. */
  kinds: readonly ModelKind[];
  /** Names of the models the host publishes (its catalogue). */
  models(): Promise<string[]>;
  /** The catalogue with each model's revision and kind. */
  catalogue(): Promise<CatalogueEntry[]>;
  /** What a model is, from its manifest: `text-generation`, `ocr`, `hf` or `onnx`. */
  kind(model: string): Promise<ModelKind>;
  /** Loads a raw ONNX model (a single-graph pack) as an engine session: `run(feeds)`. */
  load(model: string, options?: ModelLoadOptions): Promise<ModelHandle>;
  /** A transformers.js pipeline over a Hugging Face-style pack the host publishes. */
  pipeline(task: string, model: string, options?: Omit<HfPipelineOptions, 'source' | 'cache' | 'fetch' | 'worker'>): Promise<HfPipeline>;
  /** Reads the text in an image, sharing one loaded model among this origin's tabs. */
  run(image: Uint8Array | Blob, options?: { model?: string; signal?: AbortSignal }): Promise<SharedOcrResult>;
  /** The shared OCR for a model (one per model per tab). */
  ocr(model?: string, options?: { device?: DeviceRequest }): SharedOcr;
  /** The loaded text generator for a model: loaded once per page (the first call's options win), then reused. */
  generator(model: string, options?: ModelLoadOptions): Promise<PageGenerator>;
  /**
   * Generates from a prompt (or a whole request), streaming:
   * `for await (const chunk of tessera.generate('tiny-llama', 'Once upon'))`, then `await stream.result`.
   */
  generate(model: string, input: string | GenerateRequest, options?: StreamOptions): GenerationStream;
  /** Answers a conversation with the model's own chat template, streaming like `generate`. */
  chat(model: string, messages: ChatMessage[], options?: StreamOptions): GenerationStream;
  cache: {
    list(): Promise<CachedModel[]>;
    delete(name: string, revision?: string): Promise<void>;
    estimate(): Promise<StorageEstimate>;
    persist(): Promise<boolean>;
  };
  /**
   * Joins the coordinator as a session serving a model: an OCR model (the
   * default) or a text-generation model (chat/completions, streamed from this
   * page's generator). Call only from a user action. A generation model's
   * session ends when that model's generator is disposed (`(await tessera.generator(model)).dispose()`).
   */
  serve(options: { token: string; model?: string; onServed?: () => void }): Promise<{ close(): Promise<void> }>;
}

/**
 * @example
 * window.tessera = createTesseraApi({ host: new URL('.', import.meta.url).href, cache: () => defaultCache() });
 * for await (const chunk of window.tessera.chat('tiny-llama', [{ role: 'user', content: 'Hi' }])) out.textContent += chunk.text;
 */
export function createTesseraApi(options: { host: string; cache: () => Promise<ModelCache>; fetch?: typeof globalThis.fetch }): TesseraApi {
  const host = options.host;
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  // Only a caller's own fetch is handed to the loaders: with one they must stay in this page (a function cannot cross into the engine's worker).
  const customFetch = options.fetch ? { fetch: options.fetch } : {};
  const manifestUrl = (model: string) => modelManifestUrl(host, model);
  const shared = new Map<string, Promise<SharedOcr>>();
  const generators = new Map<string, Promise<PageGenerator>>();
  /** Each generator's sessions (they leave its pool when it is disposed), and whether it has been. */
  const lives = new WeakMap<PageGenerator, { stops: Set<() => void>; disposed: boolean }>();
  let cache: Promise<ModelCache> | undefined;
  const getCache = () => (cache ??= options.cache());
  let engine: Promise<Engine> | undefined;
  // One engine for every raw model of this page; its transport follows the host (page-engine.ts).
  const getEngine = () => (engine ??= pageEngine(host, options.fetch));

  const ocr = (model = 'ppocr-v4', ocrOptions: { device?: DeviceRequest } = {}): SharedOcr => {
    // The shared OCR needs the cache, which opens asynchronously: wrap so
    // callers get a SharedOcr synchronously (the element creates it lazily).
    let entry = shared.get(model);
    if (!entry) {
      entry = getCache().then((c) => createSharedOcr({ manifestUrl: manifestUrl(model), cache: c, ...customFetch, ...ocrOptions }));
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

  const generator = (model: string, o: ModelLoadOptions = {}): Promise<PageGenerator> => {
    let entry = generators.get(model);
    if (!entry) {
      const loaded: Promise<PageGenerator> = getCache()
        .then((c) => loadPageGenerator({ manifestUrl: manifestUrl(model), cache: c, ...customFetch, ...o }))
        .then((g) => {
          const life = { stops: new Set<() => void>(), disposed: false };
          const wrapped: PageGenerator = {
            ...g,
            // A disposed generator is forgotten (the next call loads it again), and no session may go on serving it.
            dispose: async () => {
              if (generators.get(model) === loaded) generators.delete(model);
              life.disposed = true;
              for (const stop of life.stops) stop();
              life.stops.clear();
              await g.dispose();
            },
          };
          lives.set(wrapped, life);
          return wrapped;
        });
      entry = loaded;
      generators.set(model, entry);
      // A failed load is not kept: the next call tries again (the network may be back).
      entry.catch(() => generators.delete(model));
    }
    return entry;
  };

  const stream = (model: string, request: GenerateRequest, o: StreamOptions): GenerationStream => {
    const { signal, onToken, device, onProgress, ...sampling } = o;
    return deferredStream(async () =>
      (await generator(model, { ...(device ? { device } : {}), ...(onProgress ? { onProgress } : {}) })).generate(
        { ...sampling, ...request },
        { ...(signal ? { signal } : {}), ...(onToken ? { onToken } : {}) },
      ),
    );
  };

  const catalogue = async (): Promise<CatalogueEntry[]> => {
    const response = await fetchFn(new URL('models', host));
    if (!response.ok) throw new TesseraError('network-error', `${new URL('models', host).href} answered ${response.status}`);
    const body = (await response.json()) as { models?: { name: string; revision: string; kind?: string }[] };
    // A host older than the kind field: read each manifest instead.
    return Promise.all(
      (body.models ?? []).map(async (m) => ({ name: m.name, revision: m.revision, kind: MODEL_KINDS.includes(m.kind as ModelKind) ? (m.kind as ModelKind) : await kind(m.name) })),
    );
  };

  const kind = async (model: string): Promise<ModelKind> => modelKind((await resolveManifest(manifestUrl(model), await getCache(), fetchFn)).manifest);

  return {
    host,
    kinds: MODEL_KINDS,
    async models() {
      return (await catalogue()).map((m) => m.name);
    },
    catalogue,
    kind,
    async load(model, o = {}) {
      const url = manifestUrl(model);
      const c = await getCache();
      const { manifest, baseUrl } = await resolveManifest(url, c, fetchFn, o.signal);
      const k = modelKind(manifest);
      if (k !== 'onnx') {
        const use = { 'text-generation': 'tessera.generate / tessera.chat', ocr: 'tessera.ocr', hf: 'tessera.pipeline(task, name)' }[k];
        throw new TesseraError('invalid-argument', `${manifest.name} is a ${k} model; load it with ${use} (tessera.load runs single-graph ONNX packs)`, { details: { model: manifest.name, kind: k } });
      }
      const e = await getEngine();
      return e.load(manifest, {
        cache: e.transport === 'worker' ? { type: 'default' } : c,
        baseUrl,
        device: o.device ?? 'auto',
        ...(e.transport === 'in-process' && options.fetch ? { fetch: options.fetch } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    },
    async pipeline(task, model, o = {}) {
      // transformers.js and its wasm load only when a page asks for a pipeline.
      const { pipeline } = await import('../transport/hf-pipeline.ts');
      const url = manifestUrl(model);
      // The revision's own manifest URL: the pipeline resolves files beside
      // the manifest, and the host serves them under the revision.
      const { baseUrl } = await resolveManifest(url, await getCache(), fetchFn);
      const source = new URL('manifest.json', baseUrl).href;
      // A caller's fetch cannot cross into a worker: in-process with it.
      if (options.fetch !== undefined) return pipeline(task, model, { ...o, source, worker: false, cache: await getCache(), fetch: fetchFn });
      if (sameOriginAsPage(url)) return pipeline(task, model, { ...o, source });
      // On another origin, the host's pipeline worker through a blob: bootstrap; in the page where its policy refuses that.
      const foreign = await foreignPipelineWorker();
      return foreign ? pipeline(task, model, { ...o, source }, foreign) : pipeline(task, model, { ...o, source, worker: false, cache: await getCache(), fetch: fetchFn });
    },
    async run(image, o = {}) {
      const bytes = image instanceof Uint8Array ? image : new Uint8Array(await image.arrayBuffer());
      return ocr(o.model).recognize(bytes, o.signal ? { signal: o.signal } : {});
    },
    ocr,
    generator,
    generate(model, input, o = {}) {
      return stream(model, typeof input === 'string' ? { prompt: input } : input, o);
    },
    chat(model, messages, o = {}) {
      if (!Array.isArray(messages) || messages.length === 0) {
        throw new TesseraError('invalid-argument', 'chat needs a non-empty array of { role, content } messages');
      }
      return stream(model, { messages }, o);
    },
    cache: {
      list: async () => (await getCache()).listModels(),
      delete: async (name, revision) => (await getCache()).deleteModel(name, revision),
      estimate: async () => (await getCache()).estimate(),
      persist: async () => (await getCache()).persist(),
    },
    async serve(o) {
      if (o.model !== undefined && (await kind(o.model)) === 'text-generation') {
        const model = o.model;
        const g = await generator(model);
        const session = await serveGeneration({ host, token: o.token, manifest: g.manifest, device: g.device, contextLength: g.contextLength, maxTokenBytes: g.maxTokenBytes, generator: g, ...(o.onServed ? { onServed: o.onServed } : {}) });
        // Disposing the page's generator takes the tab out of the model's pool: it never answers for a model it no longer holds.
        const life = lives.get(g) as { stops: Set<() => void>; disposed: boolean };
        if (life.disposed) {
          // Disposed while this session was joining: it leaves at once.
          await session.close();
          throw new TesseraError('session-closed', `the ${model} generator was disposed while this tab was joining its pool`);
        }
        const stop = () => void session.close();
        life.stops.add(stop);
        return {
          close: async () => {
            life.stops.delete(stop);
            await session.close();
          },
        };
      }
      const model = ocr(o.model);
      const pipeline = await model.pipeline;
      return serveOcr({ host, token: o.token, manifest: pipeline.manifest, device: pipeline.device, ocr: model, ...(o.onServed ? { onServed: o.onServed } : {}) });
    },
  };
}
