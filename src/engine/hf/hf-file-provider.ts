/**
 * File providers for transformers.js: each answers "the bytes of
 * `<path>` in this model" from Tessera's loader and cache, once per path
 * (transformers.js may ask for a file twice: its cache, then its fetch),
 * and "this graph without its inline weights, and the file they stay in"
 * for the streamed weight path (src/backend/transformers.ts).
 */
import type { ModelCache } from '../../cache/model-cache.ts';
import { fetchManifestSource } from '../../fetch/fetch-manifest.ts';
import { loadHfFile } from '../../fetch/hf-file.ts';
import { loadPack } from '../../fetch/load-pack.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { blobSource, bytesSource, splitInlineWeights } from '../../pack/split-inline-weights.ts';
import type { SplitWeights } from '../../backend/transformers.ts';
import { readStoredSplit, storeSplit } from './split-graph-cache.ts';

export type { SplitWeights };
import type { HfLoadStats } from '../../protocol/hf-worker-messages.ts';

export type { HfLoadStats };

export interface HfFileProviderOptions {
  cache: ModelCache;
  fetch?: typeof globalThis.fetch;
  concurrency?: number;
  chunkSize?: number;
  signal?: AbortSignal;
  /** Network bytes as they arrive, and the path they are for. */
  onBytes?: (path: string, bytes: number) => void;
  /** `blob`: files whole in the cache come as Blobs of their chunks (for openSplit); default `bytes`. */
  as?: 'bytes' | 'blob';
}

export interface HfFiles {
  open(path: string): Promise<Uint8Array | undefined>;
  /**
   * The graph at `path` with its inline weights left in the file
   * (splitInlineWeights): a small graph, plus the file itself (a Blob of its
   * cached chunks, or the bytes it was downloaded into) as the external data
   * `location` names. Undefined when the model has no such file or nothing in
   * it is worth moving.
   */
  openSplit(path: string, location: string): Promise<SplitWeights | undefined>;
  /** A file as it is held: a Blob of its cached chunks (with `as: 'blob'`), or the bytes it was downloaded into. */
  openData(path: string): Promise<Uint8Array | Blob | undefined>;
  /** Start loading a file (its data, not yet its bytes) so it is in hand when asked for. */
  prefetch(path: string): void;
  /** Forget the data kept for repeated asks (a later ask loads from the cache again). */
  release(): void;
  stats: HfLoadStats;
  /** Pack sources: the manifest (graphs list their external data). */
  manifest?: PackManifest;
}

type FileData = Uint8Array | Blob;

/** A loaded file and where its split may be kept: the model name it is cached under and its SHA-256. */
interface Loaded {
  data: FileData;
  name: string;
  sha256: string;
}

/**
 * Each file's data loaded once (transformers.js may ask for a file twice:
 * its cache, then its fetch), its bytes read from a Blob only when asked for
 * as bytes, and a graph split at most once.
 */
function memoize(cache: ModelCache, load: (path: string) => Promise<Loaded | undefined>): Pick<HfFiles, 'open' | 'openSplit' | 'openData' | 'prefetch' | 'release'> {
  const data = new Map<string, Promise<Loaded | undefined>>();
  const bytes = new Map<string, Promise<Uint8Array | undefined>>();
  const splits = new Map<string, Promise<SplitWeights | undefined>>();
  const once = <T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> => {
    let p = map.get(key);
    if (!p) {
      p = make();
      map.set(key, p);
    }
    return p;
  };
  const loadedOf = (path: string) => once(data, path, () => load(path));
  const dataOf = async (path: string) => (await loadedOf(path))?.data;
  return {
    open: (path) =>
      once(bytes, path, async () => {
        const d = await dataOf(path);
        return d instanceof Blob ? new Uint8Array(await d.arrayBuffer()) : d;
      }),
    openSplit: (path, location) =>
      once(splits, `${path}\0${location}`, async () => {
        const loaded = await loadedOf(path);
        if (!loaded) return undefined;
        const { data: d, name, sha256 } = loaded;
        let split = await readStoredSplit(cache, name, path, sha256, location);
        if (!split) {
          split = await splitInlineWeights(d instanceof Blob ? blobSource(d) : bytesSource(d), { location, file: path });
          await storeSplit(cache, name, path, sha256, location, split);
        }
        if (split.tensors === 0) return undefined;
        return { graph: split.graph, externalData: { path: location, data: d }, tensors: split.tensors, bytes: split.bytes };
      }),
    openData: dataOf,
    prefetch: (path) => void loadedOf(path).catch(() => {}),
    release: () => {
      data.clear();
      bytes.clear();
      splits.clear();
    },
  };
}

/**
 * A pack of an HF folder: each requested file is loaded on its own (the pack
 * may hold several dtypes of a graph; only the asked one is downloaded) and
 * recorded under revision `<revision>:<path>`.
 *
 * @example
 * const files = await packFiles('https://models.example/bert/manifest.json', { cache });
 * await files.open('config.json');
 */
export async function packFiles(manifestUrl: string, options: HfFileProviderOptions): Promise<HfFiles> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  // The current-manifest URL of a Worker names its revision (Content-Location): files resolve there.
  const { manifest, manifestUrl: filesBase } = await fetchManifestSource(manifestUrl, { fetch: fetchFn, signal: options.signal });
  const stats: HfLoadStats = { bytesFromNetwork: 0, bytesFromCache: 0, chunksFetched: 0, files: [] };
  const files = memoize(options.cache, async (path) => {
    const file = manifest.files.find((f) => f.path === path);
    if (!file) return undefined;
    const subset: PackManifest = { ...manifest, revision: `${manifest.revision}:${path}`, files: [file], graphs: [], totalBytes: file.size };
    let reported = 0;
    const result = await loadPack(subset, {
      cache: options.cache,
      baseUrl: filesBase,
      fetch: fetchFn,
      signal: options.signal,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.as === 'blob' ? { filesAs: 'blob' as const } : {}),
      progressIntervalMs: 0,
      onProgress: (p) => {
        options.onBytes?.(path, p.bytesFromNetwork - reported);
        reported = p.bytesFromNetwork;
      },
    });
    stats.bytesFromNetwork += result.stats.bytesFromNetwork;
    stats.bytesFromCache += result.stats.bytesFromCache;
    stats.chunksFetched += result.stats.chunksFetched;
    stats.files.push(path);
    // Blob loads return while the last chunk writes finish: the file counts as loaded once they have.
    await result.cached;
    const data = result.files.get(path);
    return data && { data, name: manifest.name, sha256: file.sha256 };
  });
  return { ...files, stats, manifest };
}

/**
 * An HF-style repository without a manifest (see loadHfFile).
 *
 * @example
 * const files = hfRepoFiles('http://127.0.0.1:8080/org/bert/resolve/main/', { cache });
 */
export function hfRepoFiles(repoUrl: string, options: HfFileProviderOptions): HfFiles {
  const stats: HfLoadStats = { bytesFromNetwork: 0, bytesFromCache: 0, chunksFetched: 0, files: [] };
  const files = memoize(options.cache, async (path) => {
    const result = await loadHfFile(repoUrl, path, {
      ...(options.as ? { as: options.as } : {}),
      cache: options.cache,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onBytes: (n) => options.onBytes?.(path, n),
    });
    if (!result) return undefined;
    stats.bytesFromNetwork += result.bytesFromNetwork;
    const size = result.data instanceof Blob ? result.data.size : result.data.byteLength;
    stats.bytesFromCache += Math.max(0, size - result.bytesFromNetwork);
    stats.chunksFetched += result.chunksFetched;
    stats.files.push(path);
    return { data: result.data, name: result.manifest.name, sha256: result.manifest.files[0]?.sha256 ?? '' };
  });
  return { ...files, stats };
}
