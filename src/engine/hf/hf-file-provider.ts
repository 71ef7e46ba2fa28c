/**
 * File providers for transformers.js: each answers "the bytes of
 * `<path>` in this model" from Tessera's loader and cache, once per path
 * (transformers.js may ask for a file twice: its cache, then its fetch).
 */
import type { ModelCache } from '../../cache/model-cache.ts';
import { fetchManifestSource } from '../../fetch/fetch-manifest.ts';
import { loadHfFile } from '../../fetch/hf-file.ts';
import { loadPack } from '../../fetch/load-pack.ts';
import type { PackManifest } from '../../pack/manifest.ts';
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
}

export interface HfFiles {
  open(path: string): Promise<Uint8Array | undefined>;
  /** Forget the bytes kept for repeated asks (a later ask loads from the cache again). */
  release(): void;
  stats: HfLoadStats;
  /** Pack sources: the manifest (graphs list their external data). */
  manifest?: PackManifest;
}

function memoize(load: (path: string) => Promise<Uint8Array | undefined>): { open: (path: string) => Promise<Uint8Array | undefined>; release: () => void } {
  const pending = new Map<string, Promise<Uint8Array | undefined>>();
  return {
    open(path) {
      let p = pending.get(path);
      if (!p) {
        p = load(path);
        pending.set(path, p);
      }
      return p;
    },
    release: () => pending.clear(),
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
  const { open, release } = memoize(async (path) => {
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
    return result.files.get(path);
  });
  return { open, release, stats, manifest };
}

/**
 * An HF-style repository without a manifest (see loadHfFile).
 *
 * @example
 * const files = hfRepoFiles('http://127.0.0.1:8080/org/bert/resolve/main/', { cache });
 */
export function hfRepoFiles(repoUrl: string, options: HfFileProviderOptions): HfFiles {
  const stats: HfLoadStats = { bytesFromNetwork: 0, bytesFromCache: 0, chunksFetched: 0, files: [] };
  const { open, release } = memoize(async (path) => {
    const result = await loadHfFile(repoUrl, path, {
      cache: options.cache,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onBytes: (n) => options.onBytes?.(path, n),
    });
    if (!result) return undefined;
    stats.bytesFromNetwork += result.bytesFromNetwork;
    stats.bytesFromCache += Math.max(0, result.bytes.byteLength - result.bytesFromNetwork);
    stats.chunksFetched += result.chunksFetched;
    stats.files.push(path);
    return result.bytes;
  });
  return { open, release, stats };
}
