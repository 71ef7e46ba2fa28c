/**
 * Where loadHfFile keeps the bytes of sub-range downloads that broke off (an
 * abort, a cut connection), in the cache's partial entries (see ModelCache).
 *
 * A repository file has no manifest, so a chunk's hash is known only once
 * all its bytes are: a partial cannot be keyed by it the way loadPack keys
 * its own. It is keyed by the file version and the byte the range starts at
 * instead, as the SHA-256 (lower-case hex: the only key form the directory
 * cache accepts) of `hf-partial|<repoUrl>|<path>|<etag>|<start>`:
 *
 * - the ETag names the version, so a file replaced on the server never
 *   continues from the old one's bytes; without an ETag there are no partials;
 * - the byte offset, not a part number, names the range, so a load with
 *   another `parts` (or `chunkSize`) still finds what starts where its own
 *   ranges do (every chunk's first range), and never places a prefix at the
 *   wrong offset.
 *
 * The bytes are unverified: the loader checks them with the rest of the file.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { sha256Hex } from '../pack/sha256.ts';

export interface HfPartials {
  /** The stored first bytes of the range that starts at byte `start`, if any. */
  get(start: number): Promise<Uint8Array | undefined>;
  put(start: number, bytes: Uint8Array): Promise<void>;
  delete(start: number): Promise<void>;
}

/**
 * The cache key of the partial for the range of `path` that starts at byte `start`.
 *
 * @example
 * const key = await hfPartialKey('http://127.0.0.1:8080/org/m/resolve/main/', 'model.onnx', '"9f2c…"', 8 << 20);
 * await cache.getPartial?.(key);
 */
export function hfPartialKey(repoUrl: string, path: string, etag: string, start: number): Promise<string> {
  return sha256Hex(new TextEncoder().encode(`hf-partial|${repoUrl}|${path}|${etag}|${start}`));
}

/**
 * One file version's partials, or undefined when they cannot be kept (no
 * ETag, or a cache without partial entries): then broken-off ranges are
 * asked for whole again, as before.
 *
 * @example
 * const partials = hfPartials(cache, { repoUrl, path, etag: head.etag });
 * const prefix = await partials?.get(3 * chunkSize);
 */
export function hfPartials(cache: ModelCache, file: { repoUrl: string; path: string; etag: string | undefined }): HfPartials | undefined {
  const { etag } = file;
  if (!etag || !cache.getPartial || !cache.putPartial || !cache.deletePartial) return undefined;
  const keys = new Map<number, Promise<string>>();
  const key = (start: number) => {
    let k = keys.get(start);
    if (!k) keys.set(start, (k = hfPartialKey(file.repoUrl, file.path, etag, start)));
    return k;
  };
  return {
    get: async (start) => cache.getPartial?.(await key(start)),
    put: async (start, bytes) => cache.putPartial?.(await key(start), bytes),
    delete: async (start) => cache.deletePartial?.(await key(start)),
  };
}
