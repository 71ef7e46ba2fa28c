/**
 * One file of a Hugging Face-style repository (`<host>/<org>/<model>/resolve/<rev>/<path>`)
 * through Tessera's chunk store, without a manifest:
 *
 * 1. HEAD for size and validators. The hub answers LFS files with
 *    `X-Linked-Etag: "<sha256>"` (and the CDN's `ETag` is the same SHA-256);
 *    small git files carry a git-blob SHA-1 ETag, which cannot be checked.
 * 2. Chunks of `chunkSize` by parallel ranged GETs (`If-Range` on the ETag),
 *    each hashed and stored as it arrives; the hashes found so far are kept
 *    in a "partial" manifest so an interrupted load resumes with only the
 *    missing chunks. A range that breaks off keeps what arrived (in memory
 *    for the retry, in the cache when the load ends: hf-partials.ts), and
 *    the next attempt asks only for the rest.
 * 3. The whole file is checked against the server's SHA-256 when it gave one;
 *    then a synthesized one-file manifest (`hf:<repo>` / `file:<path>`) is
 *    recorded, so a reload comes from the cache with zero network bytes
 *    (through loadPack, which re-verifies every chunk it refetches).
 *
 * Branch revisions (`main`) are cached until cleared, as transformers.js
 * does; pin a commit in the URL for a reload that follows the repository.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { TesseraError, throwIfAborted } from '../errors.ts';
import { fileRoleOf } from '../pack/file-role.ts';
import { DEFAULT_CHUNK_SIZE, MANIFEST_FORMAT, MANIFEST_VERSION, type PackFile, type PackManifest } from '../pack/manifest.ts';
import { sha256Hex } from '../pack/sha256.ts';
import { fetchRange, send, statusError } from './fetch-range.ts';
import { loadPack } from './load-pack.ts';
import { hfPartials } from './hf-partials.ts';
import { streamChunks } from './read-body.ts';
import { abortedError, withRetry, type RetryOptions } from './retry.ts';
import { runPool } from './run-pool.ts';

export interface HfFileOptions {
  cache: ModelCache;
  fetch?: typeof globalThis.fetch;
  /** Parallel streams for one file (default 4). */
  concurrency?: number;
  chunkSize?: number;
  /** Sub-ranges each chunk is fetched in, in parallel (default 2); the file keeps `concurrency` streams in all. */
  parts?: number;
  signal?: AbortSignal;
  retry?: RetryOptions;
  /** Body bytes as they arrive from the network. */
  onBytes?: (n: number) => void;
  /**
   * `blob`: a file that is whole in the cache comes as one Blob composed of
   * its chunk Blobs (no read, no copy); one that is downloaded still comes as
   * the bytes it was downloaded into. Default `bytes`.
   */
  as?: 'bytes' | 'blob';
}

export interface HfFileResult<Data extends Uint8Array | Blob = Uint8Array> {
  data: Data;
  /** The synthesized manifest recorded in the cache. */
  manifest: PackManifest;
  bytesFromNetwork: number;
  /** Chunks this call fetched (a resume fetches only the missing ones). */
  chunksFetched: number;
  /** Bytes of broken-off range downloads (this load's, or an interrupted earlier one's) continued with a Range request instead of asked for again. */
  bytesContinued: number;
  /** Whether the whole file was checked against a SHA-256 the server gave. */
  verified: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;
const DEFAULT_PARTS = 2;
const MAX_PENDING_WRITES = 4;
/** A broken-off range is kept in the cache once this much of it arrived (or all of it, or an eighth of a small chunk): loadPack's rule. */
const MIN_PARTIAL_BYTES = 64 * 1024;

/** The cache name of a repository's synthesized manifests. */
export function hfCacheName(repoUrl: string): string {
  return `hf:${repoUrl}`;
}

/**
 * @example
 * const r = await loadHfFile('http://127.0.0.1:8080/org/bert/resolve/main/', 'onnx/model.onnx', { cache });
 * if (r) session(r.data);
 */
export function loadHfFile(repoUrl: string, path: string, options: HfFileOptions & { as?: 'bytes' }): Promise<HfFileResult | undefined>;
export function loadHfFile(repoUrl: string, path: string, options: HfFileOptions): Promise<HfFileResult<Uint8Array | Blob> | undefined>;
export async function loadHfFile(repoUrl: string, path: string, options: HfFileOptions): Promise<HfFileResult<Uint8Array | Blob> | undefined> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const { cache } = options;
  const name = hfCacheName(repoUrl);
  const revision = `file:${path}`;
  let bytesFromNetwork = 0;
  const onBytes = (n: number) => {
    bytesFromNetwork += n;
    options.onBytes?.(n);
  };
  throwIfAborted(options.signal);

  const cached = await cache.getManifest(name, revision);
  if (cached) {
    const { files, stats } = await loadPack(cached, {
      cache,
      baseUrl: repoUrl,
      fetch: fetchFn,
      signal: options.signal,
      persist: false,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.as === 'blob' ? { filesAs: 'blob' as const } : {}),
    });
    options.onBytes?.(stats.bytesFromNetwork);
    return { data: files.get(path) as Uint8Array | Blob, manifest: cached, bytesFromNetwork: stats.bytesFromNetwork, chunksFetched: stats.chunksFetched, bytesContinued: stats.bytesContinued, verified: true };
  }

  const url = new URL(path.split('/').map(encodeURIComponent).join('/'), repoUrl).href;
  const head = await withRetry(() => probe(fetchFn, url, path, options.signal), { retry: options.retry, signal: options.signal });
  if (!head) return undefined;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const count = Math.max(0, Math.ceil(head.size / chunkSize));
  const buffer = new Uint8Array(head.size);
  const hashes: (string | undefined)[] = new Array(count).fill(undefined);
  const stored: boolean[] = new Array(count).fill(false);
  const partialRevision = `partial:${path}@${head.etag ?? 'none'}`;

  // Resume: chunks an earlier, interrupted load stored and recorded.
  const partial = await cache.getManifest(name, partialRevision);
  for (const f of partial?.files ?? []) {
    const index = Number(f.path);
    const hash = f.chunks[0];
    if (!Number.isInteger(index) || index < 0 || index >= count || !hash) continue;
    const bytes = await cache.getChunk(hash);
    if (!bytes || bytes.byteLength !== chunkLength(index, head.size, chunkSize) || (await sha256Hex(bytes)) !== hash) continue;
    buffer.set(bytes, index * chunkSize);
    hashes[index] = hash;
    stored[index] = true;
  }

  // Records progress after each stored chunk; serialized so a slow write never overwrites a newer one.
  let recording = Promise.resolve();
  const record = () => {
    const files: PackFile[] = [];
    hashes.forEach((h, i) => {
      if (h && stored[i]) files.push({ path: String(i), size: chunkLength(i, head.size, chunkSize), sha256: h, role: 'other', chunks: [h] });
    });
    const m = manifestOf(name, partialRevision, chunkSize, files);
    recording = recording.then(() => cache.putManifest(m));
    return recording;
  };

  // Each chunk comes as `parts` parallel sub-ranges and only a few chunks are
  // open at once: as many streams as `concurrency` chunks would use, but an
  // interruption leaves at most the unfinished chunks' ranges, and those are
  // kept byte-exact (below), not fetched again.
  const parts = Math.max(1, Math.floor(options.parts ?? DEFAULT_PARTS));
  const rangesOf = (index: number) => {
    const start = index * chunkSize;
    const length = chunkLength(index, head.size, chunkSize);
    const step = Math.ceil(length / parts);
    return Array.from({ length: Math.ceil(length / step) }, (_, p) => [start + p * step, Math.min(step, length - p * step)] as const);
  };

  // Broken-off sub-range downloads, as loadPack keeps them: what arrived is
  // in `buffer`, a retry asks only for the rest, and when the load fails or
  // is aborted it goes to the cache (hf-partials.ts) for the next load.
  const partials = hfPartials(cache, { repoUrl, path, etag: head.etag });
  const minPartial = Math.min(MIN_PARTIAL_BYTES, Math.ceil(chunkSize / 8));
  /** By range start: bytes of that range in `buffer` and in no stored chunk yet; `earlier` when some came from an earlier load. */
  const held = new Map<number, { got: number; length: number; earlier: boolean }>();
  /** By range start: the length of the partial the cache holds for it. */
  const kept = new Map<number, number>();
  /** By chunk: bytes continued instead of asked for again. */
  const continued = new Map<number, number>();
  // A chunk is hashed only once it is whole, and its hash is checked by
  // nothing before the whole-file SHA-256: a chunk built on an earlier load's
  // bytes (storage we did not write this time, maybe damaged) is stored only
  // after the file passes that check, and fetched whole again if it fails.
  const fromEarlier = new Set<number>();
  const deferred = new Set<number>();
  const dropPartial = async (start: number) => {
    if (!kept.delete(start)) return;
    await partials?.delete(start).catch(() => {}); // an optimisation: never the error
  };
  const savePartials = async () => {
    if (!partials) return;
    for (const [start, h] of held) {
      if (stored[Math.floor(start / chunkSize)] || kept.get(start) === h.got) continue;
      if (h.got < minPartial && h.got < h.length) continue; // less is not worth a write
      await partials.put(start, buffer.subarray(start, start + h.got)).then(
        () => void kept.set(start, h.got),
        () => {},
      );
    }
  };

  let chunksFetched = 0;
  // Cache writes run behind the downloads (a few at a time): awaiting each
  // IndexedDB commit left the network idle for a transaction per chunk. A
  // chunk enters the partial manifest only once its write has settled.
  const writes = new Set<Promise<void>>();
  let writeError: unknown;
  const store = async (index: number, bytes: Uint8Array) => {
    if (writeError !== undefined) throw writeError;
    const hash = await sha256Hex(bytes);
    if (bytes.buffer !== buffer.buffer) buffer.set(bytes, index * chunkSize);
    hashes[index] = hash;
    chunksFetched += 1;
    if (head.sha256 && fromEarlier.has(index)) return void deferred.add(index);
    while (writes.size >= MAX_PENDING_WRITES) await Promise.race(writes);
    const write: Promise<void> = cache
      .putChunk(hash, bytes)
      .then(async () => {
        stored[index] = true;
        for (const [start] of rangesOf(index)) {
          held.delete(start);
          await dropPartial(start);
        }
        return record();
      })
      .then(
        () => void writes.delete(write),
        (err: unknown) => {
          writes.delete(write);
          writeError ??= err;
        },
      );
    writes.add(write);
  };

  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let wholeFile: Promise<void> | undefined;
  const startWholeFile = (got: Response) =>
    (wholeFile ??= streamChunks(got, Array.from({ length: count }, (_, i) => chunkLength(i, head.size, chunkSize)), { file: path, signal: controller.signal, onBytes }, async (i, bytes) => {
      if (hashes[i]) return;
      fromEarlier.delete(i); // these bytes are all from this response
      await store(i, bytes);
    }));
  // One range of the file into `buffer` (its first `held` bytes already there: only the rest is asked for), or the whole-file response when the server ignores Range.
  const fetchPart = (index: number, start: number, length: number) =>
    withRetry(async () => {
      const h = held.get(start);
      const have = h?.got ?? 0;
      const done = () => {
        held.set(start, { got: length, length, earlier: h?.earlier ?? false });
        if (have > 0) continued.set(index, (continued.get(index) ?? 0) + have);
        if (h?.earlier) fromEarlier.add(index);
        return undefined;
      };
      if (have >= length) return done();
      // The pack loader's ranged GET, validated by the server's own ETag (a repository file's is not its SHA-256).
      const result = await fetchRange({
        url,
        file: path,
        chunk: index,
        start,
        end: start + length,
        fileSize: head.size,
        sha256: head.sha256 ?? '',
        etag: head.etag ?? null,
        fetch: fetchFn,
        signal: controller.signal,
        onBytes,
        have: have > 0 ? buffer.subarray(start, start + have) : undefined,
        // What arrived before a break-off, `have` included.
        onPartial: (received) => {
          buffer.set(received, start);
          held.set(start, { got: received.byteLength, length, earlier: h?.earlier ?? false });
        },
      });
      if (result.type === 'range-ignored') return result.response; // the server ignores Range: stream it whole, once
      buffer.set(result.bytes, start);
      return done();
    }, { retry: options.retry, signal: controller.signal });
  const fetchChunk = async (index: number, fresh: boolean) => {
    if (wholeFile) return wholeFile;
    const ranges = rangesOf(index);
    if (partials && !fresh) {
      await Promise.all(
        ranges.map(async ([start, length]) => {
          const bytes = await partials.get(start).catch(() => undefined); // unreadable: fetch the range whole
          if (!bytes) return;
          kept.set(start, bytes.byteLength);
          const got = Math.min(bytes.byteLength, length);
          if (got === 0 || held.has(start)) return;
          buffer.set(bytes.subarray(0, got), start);
          held.set(start, { got, length, earlier: true });
        }),
      );
    }
    const got = await Promise.all(ranges.map(([s, n]) => fetchPart(index, s, n)));
    const whole = got.find((r) => r instanceof Response);
    for (const r of got) if (r instanceof Response && r !== whole) await r.body?.cancel().catch(() => {});
    if (whole) return startWholeFile(whole);
    if (wholeFile) return wholeFile;
    const start = index * chunkSize;
    await store(index, buffer.subarray(start, start + chunkLength(index, head.size, chunkSize)));
  };
  const open = Math.max(1, Math.ceil((options.concurrency ?? 4) / parts));
  const download = async (indices: number[], fresh: boolean) => {
    try {
      await runPool(indices, open, controller, (index) => fetchChunk(index, fresh));
      while (writes.size > 0) await Promise.race(writes);
      if (writeError !== undefined) throw writeError;
      await recording;
    } catch (err) {
      // Let the writes already under way land and be recorded: the caller may
      // end this realm (a closed tab, a terminated worker) as soon as we return,
      // and a resume should find every chunk that was fully downloaded, and
      // the ranges in flight continued from where they stopped.
      await Promise.allSettled([...writes]);
      await recording.catch(() => {});
      await savePartials();
      if (options.signal?.aborted) throw abortedError(options.signal);
      throw err;
    }
  };

  let actual: string;
  try {
    await download(hashes.flatMap((h, i) => (h ? [] : [i])), false);
    actual = await sha256Hex(buffer);
    if (head.sha256 && actual !== head.sha256 && deferred.size > 0) {
      // An earlier load's bytes may be what is wrong: drop them and fetch those chunks whole, once.
      const again = [...deferred];
      deferred.clear();
      for (const i of again) {
        hashes[i] = undefined;
        chunksFetched -= 1;
        continued.delete(i);
        fromEarlier.delete(i);
        for (const [start] of rangesOf(i)) {
          held.delete(start);
          await dropPartial(start);
        }
      }
      await download(again, true);
      actual = await sha256Hex(buffer);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }

  if (head.sha256 && actual !== head.sha256) {
    // Drop what this file's chunks taught us: one of them is wrong, and we cannot tell which.
    await cache.deleteModel(name, partialRevision).catch(() => {});
    for (const start of [...kept.keys()]) await dropPartial(start);
    throw new TesseraError('integrity-error', `${path} does not match the SHA-256 the server reported (expected ${head.sha256}, got ${actual}); its chunks were discarded, load again`, {
      details: { file: path, expected: head.sha256, actual, url },
    });
  }
  // Chunks built on an earlier load's bytes, now checked with the whole file.
  for (const i of deferred) {
    await cache.putChunk(hashes[i] as string, buffer.subarray(i * chunkSize, i * chunkSize + chunkLength(i, head.size, chunkSize)));
    stored[i] = true;
  }
  const manifest = manifestOf(name, revision, chunkSize, [{ path, size: head.size, sha256: actual, role: path.endsWith('.onnx') ? 'graph' : fileRoleOf(path), chunks: hashes as string[] }]);
  await cache.putManifest(manifest);
  await cache.touch(name, revision);
  await cache.deleteModel(name, partialRevision).catch(() => {}); // its chunks stay: the file's manifest references them
  for (const start of [...kept.keys()]) await dropPartial(start);
  const bytesContinued = [...continued.values()].reduce((a, b) => a + b, 0);
  return { data: buffer, manifest, bytesFromNetwork, chunksFetched, bytesContinued, verified: head.sha256 !== undefined };
}

interface Head {
  size: number;
  /** The ETag as sent (quotes kept), for If-Range. */
  etag: string | undefined;
  /** The file's SHA-256, when the server said what it is. */
  sha256: string | undefined;
}

async function probe(fetchFn: typeof globalThis.fetch, url: string, path: string, signal: AbortSignal | undefined): Promise<Head | undefined> {
  const response = await send(fetchFn, url, {}, { file: path, signal }, 'HEAD');
  if (response.status === 404) return undefined;
  if (!response.ok) throw statusError(response, { file: path, url });
  const size = Number(response.headers.get('X-Linked-Size') ?? response.headers.get('Content-Length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TesseraError('http-error', `${path}: ${url} did not say how large the file is (no Content-Length); Tessera needs it to plan ranged requests`, { details: { file: path, url } });
  }
  const etag = response.headers.get('ETag') ?? undefined;
  const bare = (v: string | null | undefined) => v?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  const linked = bare(response.headers.get('X-Linked-Etag'));
  const sha256 = linked && HEX64.test(linked) ? linked : HEX64.test(bare(etag) ?? '') ? bare(etag) : undefined;
  return { size, etag, sha256 };
}

function chunkLength(index: number, size: number, chunkSize: number): number {
  return Math.min(chunkSize, size - index * chunkSize);
}

/** A one-model manifest of files already stored chunk by chunk (kind `hf`). */
export function manifestOf(name: string, revision: string, chunkSize: number, files: PackFile[]): PackManifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    name,
    revision,
    chunkSize,
    kind: 'hf',
    graphs: files.filter((f) => f.role === 'graph').map((f) => ({ path: f.path, externalData: [] })),
    files,
    totalBytes: files.reduce((s, f) => s + f.size, 0),
  };
}
