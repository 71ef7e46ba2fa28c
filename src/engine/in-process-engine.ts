/**
 * The engine in this realm: loadPack (verified, cached bytes) -> an ONNX
 * Runtime session -> runs. The worker transport runs this same engine inside
 * its worker, so both transports share one implementation.
 */
import { chooseWeights } from '../backend/choose-weights.ts';
import { createOrtSession } from '../backend/ort.ts';
import { detectCapabilities } from '../env.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import { TesseraError, throwIfAborted } from '../errors.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { PackManifest } from '../pack/manifest.ts';
import type { DecoderDtype, Engine, LoadGeneratorOptions, LoadOptions, ModelHandle, ModelSource } from './engine.ts';
import { isHfRepoUrl } from './generate/is-hf-repo-url.ts';
import { chooseVariant, manifestForVariant } from './generate/choose-variant.ts';
import type { TextGenerator } from './generate/text-generator.ts';
import { graphFiles } from './graph-files.ts';
import { resolveCache } from './resolve-cache.ts';
import { buildPipeline } from './pipelines/build-pipeline.ts';
import type { PipelineKind, PipelineOf } from './pipelines/pipeline.ts';

/** What the engine needs from the loader (src/fetch/load-pack.ts). */
export interface LoadedPack {
  manifest: PackManifest;
  /** Whole files by manifest path: bytes, or external data as Blobs when asked for (`externalDataAs: 'blob'`). */
  files: Map<string, Uint8Array | Blob>;
  /**
   * Settles once the cache holds every chunk and the manifest; the session
   * is built meanwhile. Absent: the loader returned only after that.
   */
  cached?: Promise<void>;
}

export type LoadPackFn = (
  source: ModelSource,
  options: {
    cache: ModelCache;
    baseUrl?: string;
    onProgress?: (progress: LoadProgress) => void;
    signal?: AbortSignal;
    fetch?: typeof globalThis.fetch;
    /** `blob`: external data as Blobs composed of the chunk Blobs, for the streamed weight path. Default bytes. */
    externalDataAs?: 'bytes' | 'blob';
  },
) => Promise<LoadedPack>;

export interface InProcessEngineOptions {
  /** Defaults to the real loader. */
  loadPack?: LoadPackFn;
  /** Defaults to {@link createOrtSession}. */
  createSession?: typeof createOrtSession;
}

/**
 * @example
 * const engine = createInProcessEngine();
 * const model = await engine.load('http://localhost:8080/mlp/manifest.json', { device: 'wasm' });
 * const { output } = await model.run({ input: { type: 'float32', dims: [1, 64], data } });
 */
export function createInProcessEngine(options: InProcessEngineOptions = {}): Engine {
  const createSession = options.createSession ?? createOrtSession;
  /** The sessions of one load (a model's, or each of a pipeline's) all get its prepack and weights choice. */
  const sessionsFor = ({ prepack, weights }: LoadOptions): typeof createSession =>
    prepack === undefined && weights === undefined
      ? createSession
      : (sessionOptions) => createSession({ ...sessionOptions, ...(prepack === undefined ? {} : { prepack }), ...(weights === undefined ? {} : { weights }) });
  const models = new Map<string, { dispose(): Promise<void> }>();
  let nextId = 1;

  async function loadPack(...args: Parameters<LoadPackFn>): Promise<LoadedPack> {
    if (options.loadPack) return options.loadPack(...args);
    // Imported on first load, not at import time: the loader pulls in the cache
    // implementations, which a caller that injects its own does not need.
    const { loadPack: real } = await import('../fetch/load-pack.ts');
    return real(...args) as Promise<LoadedPack>;
  }

  return {
    transport: 'in-process',

    async load(source: ModelSource, loadOptions: LoadOptions = {}): Promise<ModelHandle> {
      const { signal } = loadOptions;
      // Decided before loading: the streamed path wants the loader's Blobs, the copying path its bytes.
      const streamed = chooseWeights(loadOptions.weights ?? 'auto', await detectCapabilities()).weights === 'streamed';
      const { pack, sessionProgress } = await fetchPack(source, loadOptions, streamed ? 'blob' : 'bytes');
      const { manifest } = pack;
      let session: Awaited<ReturnType<typeof createSession>>;
      try {
        const { graph, externalData } = graphFiles(manifest, pack.files);
        sessionProgress(false);
        session = await sessionsFor(loadOptions)({ graph, externalData, device: loadOptions.device ?? 'auto', ...(signal ? { signal } : {}) });
      } finally {
        // ORT holds the weights now (wasm heap, GPU buffers): drop our
        // bytes or Blobs so a large model is not held twice.
        pack.files.clear();
      }
      try {
        // Cache writes ran behind the session's creation; a load that
        // resolved is a load the next visit finds complete.
        await pack.cached;
      } catch (err) {
        await session.release();
        throw err;
      }
      sessionProgress(true);

      const id = `${manifest.name}@${manifest.revision.slice(0, 12)}#${nextId++}`;
      let disposed = false;
      const handle: ModelHandle = {
        id,
        manifest,
        device: session.device,
        deviceReason: session.reason,
        weights: session.weights,
        weightsReason: session.weightsReason,
        inputNames: [...session.inputNames],
        outputNames: [...session.outputNames],
        inputMetadata: [...session.inputMetadata],
        run(feeds, runOptions = {}) {
          if (disposed) return Promise.reject(closed(id));
          return session.run(feeds, runOptions.signal ? { signal: runOptions.signal } : {});
        },
        async dispose() {
          if (disposed) return;
          disposed = true;
          models.delete(id);
          await session.release();
        },
      };
      models.set(id, handle);
      return handle;
    },

    async loadPipeline<K extends PipelineKind>(kind: K, source: ModelSource, loadOptions: LoadOptions = {}): Promise<PipelineOf[K]> {
      const { pack, sessionProgress } = await fetchPack(source, loadOptions, 'bytes');
      await pack.cached;
      sessionProgress(false);
      const id = `${pack.manifest.name}@${pack.manifest.revision.slice(0, 12)}#${nextId++}`;
      const pipeline = await buildPipeline(kind, {
        id, manifest: pack.manifest, files: bytesOnly(pack.files), createSession: sessionsFor(loadOptions),
        device: loadOptions.device ?? 'auto',
        ...(loadOptions.signal ? { signal: loadOptions.signal } : {}),
      });
      pack.files.clear();
      sessionProgress(true);
      const dispose = pipeline.dispose.bind(pipeline);
      pipeline.dispose = async () => {
        models.delete(id);
        await dispose();
      };
      models.set(id, pipeline);
      return pipeline;
    },

    async loadGenerator(source: ModelSource, loadOptions: LoadGeneratorOptions = {}): Promise<TextGenerator> {
      throwIfAborted(loadOptions.signal);
      const { pack, dtype, sessionProgress } = await fetchDecoder(source, loadOptions);
      sessionProgress(false);
      const { manifest } = pack;
      const id = `${manifest.name}@${manifest.revision.slice(0, 12)}#${nextId++}`;
      // Imported on first use: the tokenizer and template engine stay out of bundles that never generate.
      const { createTextGenerator } = await import('./generate/create-text-generator.ts');
      const generator = await createTextGenerator({
        id, manifest: pack.manifest, files: bytesOnly(pack.files), dtype, createSession: sessionsFor(loadOptions),
        device: loadOptions.device ?? 'auto',
        ...(loadOptions.signal ? { signal: loadOptions.signal } : {}),
        onDispose: () => models.delete(id),
      });
      pack.files.clear();
      sessionProgress(true);
      models.set(id, generator);
      return generator;
    },

    async dispose() {
      await Promise.all([...models.values()].map((model) => model.dispose()));
    },
  };

  /**
   * A decoder's files: from a pack (the manifest first, to download only the
   * variant asked for) or from an HF-style repository URL (`.../resolve/<rev>/`).
   */
  async function fetchDecoder(source: ModelSource, loadOptions: LoadGeneratorOptions): Promise<{ pack: LoadedPack; dtype: DecoderDtype; sessionProgress: (done: boolean) => void }> {
    if (typeof source === 'string' && isHfRepoUrl(source)) {
      const { loadHfRepoDecoder } = await import('./generate/hf-repo-decoder.ts');
      const { resolveSource } = await import('../fetch/resolve-source.ts');
      const { manifest, files, dtype } = await loadHfRepoDecoder(resolveSource(source, loadOptions.baseUrl).manifestUrl, {
        cache: await resolveCache(loadOptions.cache),
        ...(loadOptions.fetch ? { fetch: loadOptions.fetch } : {}),
        ...(loadOptions.signal ? { signal: loadOptions.signal } : {}),
        ...(loadOptions.dtype ? { dtype: loadOptions.dtype } : {}),
      });
      return { pack: { manifest, files }, dtype, sessionProgress: () => {} };
    }
    const { manifest, baseUrl } = await manifestOf(source, loadOptions);
    const variant = chooseVariant(manifest, loadOptions.dtype);
    // Decoders load as bytes (the generator builds its sessions from them).
    const { pack, sessionProgress } = await fetchPack(manifestForVariant(manifest, variant.graphIndex), { ...loadOptions, baseUrl }, 'bytes');
    await pack.cached;
    return { pack: { ...pack, files: bytesOnly(pack.files) }, dtype: variant.dtype, sessionProgress };
  }

  /** A manifest in hand, and the URL its files resolve against. */
  async function manifestOf(source: ModelSource, loadOptions: LoadOptions): Promise<{ manifest: PackManifest; baseUrl: string }> {
    const { resolveSource } = await import('../fetch/resolve-source.ts');
    if (typeof source !== 'string') return { manifest: source, baseUrl: resolveSource(source, loadOptions.baseUrl).manifestUrl };
    const { manifestUrl } = resolveSource(source, loadOptions.baseUrl);
    const { fetchManifest } = await import('../fetch/fetch-manifest.ts');
    const manifest = await fetchManifest(manifestUrl, {
      ...(loadOptions.fetch ? { fetch: loadOptions.fetch } : {}),
      ...(loadOptions.signal ? { signal: loadOptions.signal } : {}),
    });
    return { manifest, baseUrl: manifestUrl };
  }

  /** Cache -> loader -> whole files; the loader's progress passes through as not done until the sessions exist. */
  async function fetchPack(
    source: ModelSource,
    loadOptions: LoadOptions,
    externalDataAs: 'bytes' | 'blob',
  ): Promise<{ pack: LoadedPack; sessionProgress: (done: boolean) => void }> {
    const { signal, onProgress } = loadOptions;
    throwIfAborted(signal);
    const cache = await resolveCache(loadOptions.cache);
    // The loader's last event says done; the engine's load is done only
    // once the session exists, so its events pass through as not done yet.
    let last: LoadProgress | undefined;
    const forward = (progress: LoadProgress) => {
      last = progress;
      onProgress?.({ ...progress, done: false });
    };
    const pack = await loadPack(source, {
      cache,
      ...(loadOptions.baseUrl === undefined ? {} : { baseUrl: loadOptions.baseUrl }),
      ...(loadOptions.fetch === undefined ? {} : { fetch: loadOptions.fetch }),
      onProgress: forward,
      ...(signal ? { signal } : {}),
      ...(externalDataAs === 'blob' ? { externalDataAs } : {}),
    });
    const sessionProgress = (done: boolean) => {
      if (!onProgress || !last) return;
      onProgress({ ...last, phase: 'session', rateBytesPerSec: 0, etaSeconds: 0, done });
    };
    return { pack, sessionProgress };
  }
}

/** Pipelines are loaded as bytes (their graphs are small); a loader that gave Blobs anyway is a bug. */
function bytesOnly(files: Map<string, Uint8Array | Blob>): Map<string, Uint8Array> {
  for (const [path, data] of files) {
    if (!(data instanceof Uint8Array)) throw new TesseraError('internal', `the loader returned ${path} as a Blob for a pipeline, which takes bytes`);
  }
  return files as Map<string, Uint8Array>;
}

function closed(id: string): TesseraError {
  return new TesseraError('session-closed', `model ${id} was disposed; load it again to run it`, { details: { id } });
}
