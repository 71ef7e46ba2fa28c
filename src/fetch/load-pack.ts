/**
 * The loader: manifest -> plan -> quota -> persist -> cached chunks into the
 * file buffers -> parallel ranged GETs (bounded, If-Range, retried with
 * backoff and jitter) -> SHA-256 per chunk -> cache -> progress. A chunk that
 * fails its hash is never stored; the manifest is recorded only once every
 * chunk is, so a cached manifest means "complete". An interrupted load keeps
 * the chunks it stored, so the next one fetches only what is missing.
 *
 * With `externalDataAs: 'blob'` (the streamed weight path) no file of
 * external data is ever assembled in JS: each becomes one Blob composed
 * (`new Blob(parts)`, which copies no bytes) of its chunks' Blobs, the cached
 * ones straight from IndexedDB, the downloaded ones verified, wrapped and
 * stored. The load then returns once every chunk is verified, while the
 * cache writes finish behind it (`cached`), so the session is built while
 * IndexedDB writes; the manifest is still written last.
 */
import { evictLeastRecentlyUsed } from '../cache/evict-lru.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import { TesseraError, throwIfAborted } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import { sha256Hex } from '../pack/sha256.ts';
import { fetchManifestSource } from './fetch-manifest.ts';
import { fetchRange } from './fetch-range.ts';
import { fetchWholeFile } from './full-file-fallback.ts';
import { planLoad, type LoadPlan, type PlannedChunk } from './plan-load.ts';
import { createProgressTracker, type LoadProgress } from './progress.ts';
import { abortedError, withRetry, type RetryOptions } from './retry.ts';
import { fileUrl, resolveSource } from './resolve-source.ts';
import { runPool } from './run-pool.ts';
import { validateManifest } from '../pack/validate-manifest.ts';

/**
 * Requests in flight. Measured on loopback (bench/concurrency.md): throughput
 * is within noise from 4 to 12 there, Chromium allows 6 HTTP/1.1 connections
 * per host, and each request in flight is a chunk held in memory and, on an
 * interruption, re-fetched: 4 keeps a resume's loss near 2 chunks.
 */
export const DEFAULT_CONCURRENCY = 4;
/** Chunk writes allowed to trail the downloads: few, since a tab closed mid-load loses them (they are fetched again on resume). */
const MAX_PENDING_WRITES = 2;
/**
 * A broken-off chunk download is kept (in memory for a retry, in the store
 * when the load fails or is aborted) once this much of it has arrived, or an
 * eighth of the chunk when chunks are small; less is not worth a write.
 */
const MIN_PARTIAL_BYTES = 64 * 1024;
/**
 * Cached chunk Blobs checked at once on a warm load (each check reads one
 * byte). Four at a time, one IndexedDB read each, took 570-720 ms for the 37
 * chunks of bench:hf's 289 MiB file in a fresh worker; one batched read and
 * 32 checks at a time, under 100 ms.
 */
const BLOB_CHECKS = 32;
/**
 * On a page's main thread, a blob load swaps each downloaded chunk's
 * in-memory Blob for the stored, file-backed one as soon as its write lands.
 * There, holding 512 MiB of in-memory chunk Blobs (bench:load's model, loaded
 * in-process) made IndexedDB refuse further Blob writes (`Failed to write
 * blobs (InvalidBlob)`) and ORT's reads of them fail (`network error`); in a
 * worker the same load, and 2 GiB ones, work with the in-memory Blobs, which
 * ORT reads sooner (no write to wait for). The renderer's memory while
 * downloading did not change either way (measured: 250-330 MiB above idle).
 */
const storedBlobs = () => typeof document !== 'undefined';

export interface LoadPackOptions {
  /** Where chunks go. Default: IndexedDB in browsers, the cache directory in Node. `'memory'`: no caching at all. */
  cache?: ModelCache | 'memory';
  /** Base for a relative manifest URL, or the pack's URL when `source` is a manifest object. */
  baseUrl?: string | URL;
  fetch?: typeof globalThis.fetch;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
  retry?: RetryOptions;
  /** Let the loader evict least-recently-used models to make room. Default false. */
  allowEviction?: boolean;
  /** Ask for persistent storage before downloading. Default true. */
  persist?: boolean;
  /** Clock in milliseconds (epoch); default Date.now. */
  now?: () => number;
  /** Minimum milliseconds between progress events; default 100. */
  progressIntervalMs?: number;
  /**
   * `bytes` (default): every file as one Uint8Array. `blob`: external-data
   * files as Blobs composed of the chunk Blobs (see the module comment), the
   * other files (graphs, configs: small) still as bytes.
   */
  externalDataAs?: 'bytes' | 'blob';
  /**
   * `blob`: every file as a Blob, graphs too, with `externalDataAs: 'blob'`'s
   * loading (for callers that read a graph's inline weights from its Blob
   * themselves: see src/pack/split-inline-weights.ts).
   */
  filesAs?: 'bytes' | 'blob';
}

export interface LoadStats {
  bytesFromNetwork: number;
  bytesFromCache: number;
  chunksFetched: number;
  chunksFromCache: number;
  retries: number;
  /** Bytes of broken-off chunk downloads (this load's, or an interrupted earlier one's) that were continued with a Range request instead of asked for again. */
  bytesContinued: number;
  /** Files fetched with one plain GET because the server ignored Range. */
  rangeFallbackFiles: string[];
  evicted: Array<{ name: string; revision: string }>;
  ms: number;
}

export interface LoadPackResult<Data extends Uint8Array | Blob = Uint8Array> {
  manifest: PackManifest;
  /** Each file, contiguous, keyed by its manifest path. */
  files: Map<string, Data>;
  stats: LoadStats;
  /**
   * Settles when every chunk is stored and the manifest recorded. Already
   * settled for `bytes` loads; for `blob` loads the writes run behind the
   * returned files, and a failed write rejects this (the files are intact:
   * they are verified before any of this).
   */
  cached: Promise<void>;
}

/** Whether a cached chunk's Blob can be handed on, checked without reading it. */
export type ChunkBlobCheck = (blob: Blob, size: number) => Promise<boolean>;

/**
 * @example
 * const { manifest, files, stats } = await loadPack('https://models.example/mlp/manifest.json', {
 *   onProgress: (p) => bar.update(p.bytesDone / p.bytesTotal),
 * });
 * const graph = files.get(manifest.graphs[0].path);
 */
export function loadPack(source: string | URL | PackManifest, options?: LoadPackOptions & { externalDataAs?: 'bytes'; filesAs?: 'bytes' }): Promise<LoadPackResult>;
export function loadPack(source: string | URL | PackManifest, options: LoadPackOptions): Promise<LoadPackResult<Uint8Array | Blob>>;
export async function loadPack(source: string | URL | PackManifest, options: LoadPackOptions = {}): Promise<LoadPackResult<Uint8Array | Blob>> {
  const allBlobs = options.filesAs === 'blob';
  const asBlobs = allBlobs || options.externalDataAs === 'blob';
  const now = options.now ?? Date.now;
  const started = now();
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new TesseraError('invalid-argument', `concurrency must be an integer from 1 to 64, got ${concurrency}`);
  }
  throwIfAborted(options.signal);

  // One controller for everything in flight: the caller's abort and our own first failure both cancel it.
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = controller.signal;
  try {
    const store = options.cache === 'memory' ? undefined : (options.cache ?? (await (await import('../cache/default-cache.ts')).defaultCache()));
    const resolved = resolveSource(source, options.baseUrl);
    let manifestRetries = 0;
    // Files resolve against the revision the server names (Content-Location), not the current-manifest URL.
    const { manifest, manifestUrl } = resolved.manifest
      ? { manifest: validateManifest(resolved.manifest), manifestUrl: resolved.manifestUrl }
      : await fetchManifestSource(resolved.manifestUrl, { fetch: fetchFn, signal, retry: options.retry, onRetry: () => void (manifestRetries += 1) });

    const tracker = createProgressTracker({
      files: manifest.files,
      onProgress: options.onProgress,
      now,
      ...(options.progressIntervalMs === undefined ? {} : { intervalMs: options.progressIntervalMs }),
    });
    const stats: LoadStats = { bytesFromNetwork: 0, bytesFromCache: 0, chunksFetched: 0, chunksFromCache: 0, retries: manifestRetries, bytesContinued: 0, rangeFallbackFiles: [], evicted: [], ms: 0 };
    // Filled once the plan is known (see `compose` below).
    let buffers: Uint8Array[] = [];
    let parts: Blob[][] = [];
    const place = (chunk: PlannedChunk, data: Uint8Array | Blob, from: 'cache' | 'network') => {
      for (const p of chunk.places) {
        // Dedupe by hash means equal hashes, so equal sizes; slice guards a cache returning a longer buffer.
        if (data instanceof Blob) (parts[p.file] as Blob[])[p.chunk] = data.size === p.size ? data : data.slice(0, p.size);
        else (buffers[p.file] as Uint8Array).set(data.byteLength === p.size ? data : data.subarray(0, p.size), p.offset);
        tracker.placed((manifest.files[p.file] as { path: string }).path, p.size, from);
        if (from === 'cache') stats.bytesFromCache += p.size;
      }
    };

    // Plan and quota, before a single chunk byte is fetched.
    let plan = await planLoad(manifest, store);
    if (store && plan.neededBytes > 0) {
      plan = await ensureRoom(store, manifest, plan, options.allowEviction === true, stats);
      if (options.persist !== false) await store.persist();
    }
    throwIfAborted(signal);

    // Bytes: one buffer per file, filled in place. Blobs: each file's chunk
    // Blobs, composed at the end. A bytes load that finds every chunk cached
    // composes too and then reads each whole file with one arrayBuffer():
    // measured in Chromium on 128 MiB from IndexedDB, 230-260 ms against
    // 400-500 ms reading chunk by chunk and copying each into place.
    const compose = asBlobs || (plan.missing.length === 0 && store?.getChunkBlob !== undefined);
    if (compose) parts = manifest.files.map((f) => new Array<Blob>(f.chunks.length));
    else buffers = manifest.files.map((f) => new Uint8Array(f.size));

    // Cached chunks into place.
    // Cached chunks are read while the missing ones download (a resumed load
    // does both at once instead of one after the other).
    tracker.setPhase(plan.missing.length > 0 ? 'download' : 'assemble');
    const refetch: PlannedChunk[] = [];
    const placeCached = (chunk: PlannedChunk, data: Uint8Array | Blob | undefined) => {
      // Gone since planning (deleted by another tab, or a damaged entry): fetch it instead.
      if (!data || (data instanceof Blob ? data.size : data.byteLength) !== chunk.size) return void refetch.push(chunk);
      place(chunk, data, 'cache');
      stats.chunksFromCache += 1;
    };
    const readCached = plan.cached.length === 0
      ? Promise.resolve()
      : compose
      ? // The Blob handles first (one IndexedDB transaction, not one per chunk), then their checks side by side.
        (async () => {
          const blobs = await chunkBlobs(store as ModelCache, plan.cached.map((c) => c.hash), controller);
          const at = new Map(plan.cached.map((c, i) => [c, i]));
          await runPool(plan.cached, BLOB_CHECKS, controller, async (chunk) => placeCached(chunk, await readableBlob(blobs[at.get(chunk) as number], chunk.size)));
        })()
      : runPool(plan.cached, 4, controller, async (chunk) => placeCached(chunk, await (store as ModelCache).getChunk(chunk.hash)));

    // Missing chunks from the network.
    const delivered = new Set<string>();
    const chunkByHash = new Map(plan.chunks.map((c) => [c.hash, c]));
    const cachedHashes = new Set(plan.cached.map((c) => c.hash));
    // Cache writes run behind the downloads (at most MAX_PENDING_WRITES at a time):
    // awaiting each IndexedDB commit before the next request left the network
    // idle for a transaction's latency per chunk. The manifest is written only
    // after every write has settled, so a cut-off load never looks complete.
    const writes = new Set<Promise<void>>();
    let writeError: unknown;
    const swapToStored = storedBlobs();
    const deliver = async (chunk: PlannedChunk, bytes: Uint8Array) => {
      if (delivered.has(chunk.hash)) return;
      delivered.add(chunk.hash);
      if (writeError !== undefined) throw writeError;
      // A Blob owns a copy of exactly these bytes (and refuses views of shared
      // memory): once it exists, nothing here keeps the downloaded buffer.
      const blob = compose ? new Blob([bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice()]) : undefined;
      place(chunk, blob ?? bytes, 'network');
      stats.chunksFetched += 1;
      if (!store) return;
      while (writes.size >= MAX_PENDING_WRITES) await Promise.race(writes);
      const put = blob && store.putChunkBlob ? store.putChunkBlob(chunk.hash, blob) : store.putChunk(chunk.hash, bytes);
      const write: Promise<void> = put
        .then(async () => {
          // Once stored, the file-backed Blob stands in for the one made from the download (storedBlobs: a page's main thread).
          if (!blob || !swapToStored || !store.getChunkBlob) return;
          const stored = await store.getChunkBlob(chunk.hash).catch(() => undefined);
          if (stored && stored.size === blob.size) for (const p of chunk.places) (parts[p.file] as Blob[])[p.chunk] = stored.size === p.size ? stored : stored.slice(0, p.size);
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
    const settleWrites = async () => {
      while (writes.size > 0) await Promise.all(writes);
      if (writeError !== undefined) throw writeError;
    };
    const onBytes = (n: number) => {
      stats.bytesFromNetwork += n;
      tracker.received(n);
    };
    const retryOptions = { retry: options.retry, signal, onRetry: () => void (stats.retries += 1) };
    const attempts = options.retry?.attempts ?? 4;

    const wholeFiles = new Map<number, Promise<void>>();
    const wholeFile = (fileIndex: number, inHand?: Response): Promise<void> => {
      let pending = wholeFiles.get(fileIndex);
      if (pending) {
        // Another task already streams this file; this body would be a second copy.
        inHand?.body?.cancel().catch(() => {});
      } else {
        let response = inHand;
        const file = manifest.files[fileIndex] as PackManifest['files'][number];
        stats.rangeFallbackFiles.push(file.path);
        pending = withRetry(
          () => {
            const first = response;
            response = undefined; // a retry asks again
            return fetchWholeFile({ url: fileUrl(manifestUrl, file.path), file, chunkSize: manifest.chunkSize, fetch: fetchFn, signal, onBytes, response: first }, async (index, bytes) => {
              const hash = file.chunks[index] as string;
              if (cachedHashes.has(hash) && !refetch.some((c) => c.hash === hash)) return; // already in place, and already stored
              // streamChunks hands each chunk its own buffer, so storing it keeps nothing else alive.
              await deliver(chunkByHash.get(hash) as PlannedChunk, bytes);
            });
          },
          retryOptions,
        );
        wholeFiles.set(fileIndex, pending);
        tracker.setFallback(file.path);
      }
      return pending;
    };

    // The received bytes of chunk downloads that broke off, by hash: a retry
    // (or, once stored, a later load) asks only for the rest. Unverified until
    // the chunk is whole and its SHA-256 matches.
    const partials = new Map<string, Uint8Array>();
    const minPartial = Math.min(MIN_PARTIAL_BYTES, Math.ceil(manifest.chunkSize / 8));
    const storedPartials = new Set<string>();
    const savePartials = async () => {
      if (!store?.putPartial) return;
      for (const [hash, bytes] of partials) {
        if (!delivered.has(hash)) await store.putPartial(hash, bytes).catch(() => {}); // an optimisation: never the error
      }
    };

    const fetchChunk = async (chunk: PlannedChunk): Promise<void> => {
      const first = chunk.places[0] as PlannedChunk['places'][number];
      if (delivered.has(chunk.hash)) return;
      if (wholeFiles.has(first.file)) return wholeFile(first.file);
      const file = manifest.files[first.file] as PackManifest['files'][number];
      const stored = await store?.getPartial?.(chunk.hash).catch(() => undefined);
      if (stored && stored.byteLength < chunk.size) partials.set(chunk.hash, stored);
      if (stored) storedPartials.add(chunk.hash);
      const bytes = await withRetry(async (attempt) => {
        // Taken for this attempt; a break-off puts back what it then holds, and a failed check drops it.
        const have = partials.get(chunk.hash);
        partials.delete(chunk.hash);
        const result = await fetchRange({
          have,
          onPartial: (received) => {
            if (received.byteLength >= minPartial) partials.set(chunk.hash, received);
          },
          url: fileUrl(manifestUrl, file.path),
          file: file.path,
          chunk: first.chunk,
          start: first.offset,
          end: first.offset + first.size,
          fileSize: file.size,
          sha256: file.sha256,
          fetch: fetchFn,
          signal,
          onBytes,
        });
        if (result.type === 'range-ignored') return result.response;
        const actual = await sha256Hex(result.bytes);
        if (actual !== chunk.hash) {
          // With a continued download the kept prefix may be what is wrong: it was dropped above, so a retry fetches the chunk whole.
          const continued = have ? `, continued from byte ${have.byteLength} of an earlier download, which is discarded` : '';
          if (storedPartials.delete(chunk.hash)) void store?.deletePartial?.(chunk.hash).catch(() => {});
          throw new TesseraError(
            'integrity-error',
            `${file.path} chunk ${first.chunk} failed its SHA-256 check (attempt ${attempt + 1} of ${attempts}; expected ${chunk.hash}, got ${actual}${continued}); it was not cached`,
            { details: { file: file.path, chunk: first.chunk, expected: chunk.hash, actual, attempts: attempt + 1 } },
          );
        }
        if (have) stats.bytesContinued += have.byteLength;
        return result.bytes;
      }, retryOptions);
      if (bytes instanceof Response) return wholeFile(first.file, bytes);
      await deliver(chunk, bytes);
      if (storedPartials.delete(chunk.hash)) await store?.deletePartial?.(chunk.hash).catch(() => {});
    };
    try {
      await Promise.all([readCached, runPool(plan.missing, concurrency, controller, fetchChunk)]);
      // Chunks the cache lost since planning are known only once they are read.
      if (refetch.length > 0) await runPool(refetch, concurrency, controller, fetchChunk);
    } catch (err) {
      await settleWrites().catch(() => {});
      // What the downloads in flight had received, for the next load to continue (the pool waited for them to settle).
      await savePartials();
      throw err;
    }
    if (signal.aborted) throw abortedError(signal);

    // The manifest goes in only after every chunk write settled: a cut-off load never looks complete.
    const cached = (async () => {
      await settleWrites();
      if (store) {
        await store.putManifest(manifest);
        await store.touch(manifest.name, manifest.revision, now());
      }
    })();
    cached.catch(() => {}); // a blob load's caller awaits it; never an unhandled rejection meanwhile
    if (!asBlobs) await cached;
    const files = new Map<string, Uint8Array | Blob>();
    for (const [i, f] of manifest.files.entries()) {
      if (!compose) files.set(f.path, buffers[i] as Uint8Array);
      else {
        const whole = new Blob(parts[i]);
        // Graphs and configs are small and wanted as bytes (ORT parses the graph from memory).
        files.set(f.path, allBlobs || (asBlobs && f.role === 'external-data') ? whole : new Uint8Array(await whole.arrayBuffer()));
      }
    }
    stats.ms = now() - started;
    tracker.finish();
    return { manifest, files, stats, cached };
  } catch (err) {
    if (options.signal?.aborted) throw abortedError(options.signal);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/**
 * The cached chunks' Blobs, in the order asked: one batched read where the
 * store has one (IndexedDB), else one chunk at a time, four at once (a store
 * without Blobs gives bytes, wrapped).
 */
async function chunkBlobs(store: ModelCache, hashes: string[], controller: AbortController): Promise<Array<Blob | undefined>> {
  if (store.getChunkBlobs) return store.getChunkBlobs(hashes);
  const out = new Array<Blob | undefined>(hashes.length);
  await runPool([...hashes.keys()], 4, controller, async (i) => {
    const hash = hashes[i] as string;
    out[i] = store.getChunkBlob ? await store.getChunkBlob(hash) : await store.getChunk(hash).then((b) => b && new Blob([b as Uint8Array<ArrayBuffer>]));
  });
  return out;
}

/**
 * A cached chunk as a Blob that can be handed to ORT, or undefined (then it
 * is fetched again). The chunk's hash was verified before it was stored and
 * IndexedDB writes are atomic, so what can go wrong since is the entry's
 * size (a damaged value) or its backing file (site data cleared, a file
 * truncated or replaced: Chromium then fails any read of the Blob with
 * NotReadableError). Reading its last byte catches both for the cost of
 * one tiny read; re-hashing every chunk would read the whole model once more
 * on every warm load (see bench:load's verify figures).
 */
async function readableBlob(blob: Blob | undefined, size: number): Promise<Blob | undefined> {
  if (!blob || blob.size !== size) return undefined;
  if (size === 0) return blob;
  try {
    await blob.slice(size - 1, size).arrayBuffer();
    return blob;
  } catch (err) {
    const name = (err as DOMException | undefined)?.name;
    if (name === 'NotReadableError' || name === 'NotFoundError') return undefined;
    throw err;
  }
}

async function ensureRoom(store: ModelCache, manifest: PackManifest, plan: LoadPlan, allowEviction: boolean, stats: LoadStats): Promise<LoadPlan> {
  let { available } = await store.estimate();
  if (available >= plan.neededBytes) return plan;
  if (allowEviction) {
    // Keep every revision of this model: an older one may hold chunks this plan counts as cached.
    const result = await evictLeastRecentlyUsed(store, { neededBytes: plan.neededBytes, keep: { name: manifest.name } });
    stats.evicted = result.evicted;
    plan = await planLoad(manifest, store);
    available = result.available;
    if (available >= plan.neededBytes) return plan;
  }
  throw new TesseraError(
    'quota-exceeded',
    `${manifest.name} needs ${plan.neededBytes} more bytes of storage but only ${available} are available: free space, pass allowEviction: true to evict least-recently-used models, or load with cache: 'memory' to run without caching`,
    { details: { neededBytes: plan.neededBytes, availableBytes: available, model: manifest.name } },
  );
}
