import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRangeServer, type RangeServer } from '../../test/helpers/range-server.ts';
import { writeRandomPack } from '../../test/helpers/random-pack.ts';
import { createFsCache } from '../cache/fs-cache.ts';
import { createMemoryCache } from '../cache/memory-cache.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import { isTesseraError, type TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import { sha256Hex } from '../pack/sha256.ts';
import { loadPack, type LoadPackOptions } from './load-pack.ts';
import type { LoadProgress } from './progress.ts';

const CHUNK = 4096;
const FAST_RETRY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
let root: string;
let server: RangeServer;
let a: { manifest: PackManifest; files: Map<string, Uint8Array> };
let a2: { manifest: PackManifest; files: Map<string, Uint8Array> };
let dup: { manifest: PackManifest; files: Map<string, Uint8Array> };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-loader-'));
  a = await writeRandomPack(join(root, 'a'), { name: 'a', chunkSize: CHUNK, files: [{ path: 'model.onnx', size: 5000 }, { path: 'data/weights.bin', size: 20 * CHUNK + 123 }] });
  // v2: same graph, weights differ in chunks 10 and 20 only.
  const w2 = (a.files.get('data/weights.bin') as Uint8Array).slice();
  w2[10 * CHUNK] = (w2[10 * CHUNK] ?? 0) ^ 1;
  w2[20 * CHUNK] = (w2[20 * CHUNK] ?? 0) ^ 1;
  a2 = await writeRandomPack(join(root, 'a2'), { name: 'a', chunkSize: CHUNK, files: [{ path: 'model.onnx', bytes: a.files.get('model.onnx') as Uint8Array }, { path: 'data/weights.bin', bytes: w2 }] });
  // Four chunks, three identical: two distinct chunks to fetch.
  const x = crypto.getRandomValues(new Uint8Array(CHUNK));
  const y = crypto.getRandomValues(new Uint8Array(100));
  dup = await writeRandomPack(join(root, 'dup'), { name: 'dup', chunkSize: CHUNK, files: [{ path: 'd.onnx', bytes: concat(x, x, x, y) }] });
  await mkdir(join(root, 'bad'), { recursive: true });
  await writeFile(join(root, 'bad', 'manifest.json'), JSON.stringify({ ...a.manifest, files: [{ ...a.manifest.files[0], path: '../escape' }] }));
  server = await startRangeServer({ root });
});
afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  server.setFaults([]);
  server.resetStats();
});

const url = (name: string) => `${server.url}/${name}/manifest.json`;
const dataBytes = () => Object.entries(server.stats().byPath).filter(([p]) => !p.endsWith('manifest.json')).reduce((s, [, v]) => s + v.bytes, 0);
const load = (name: string, cache: ModelCache | 'memory', extra: LoadPackOptions & { externalDataAs?: 'bytes'; filesAs?: 'bytes' } = {}) => loadPack(url(name), { cache, retry: FAST_RETRY, ...extra });
async function failure(p: Promise<unknown>): Promise<TesseraError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!isTesseraError(err)) throw new Error(`expected a TesseraError, got ${String(err)}`);
  return err;
}
async function expectFiles(files: Map<string, Uint8Array>, want: Map<string, Uint8Array>) {
  expect([...files.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [path, bytes] of want) expect(await sha256Hex(files.get(path) as Uint8Array)).toBe(await sha256Hex(bytes));
}
/**
 * Every chunk in the cache hashes to its key: nothing unverified was stored.
 * `atLeast` chunks of the manifest must be there, so an empty cache passes
 * only where the caller says none is expected (and asserts what is absent).
 */
async function expectCacheSound(cache: ModelCache, manifest: PackManifest, atLeast: number) {
  let stored = 0;
  for (const hash of manifest.files.flatMap((f) => f.chunks)) {
    const bytes = await cache.getChunk(hash);
    if (!bytes) continue;
    stored += 1;
    expect(await sha256Hex(bytes)).toBe(hash);
  }
  expect(stored).toBeGreaterThanOrEqual(atLeast);
}

describe('loadPack', () => {
  it('streams a pack into the cache, then loads it again with zero network bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-fs-'));
    const cache = createFsCache({ dir });
    const events: LoadProgress[] = [];
    const first = await load('a', cache, { onProgress: (p) => events.push(p), progressIntervalMs: 0 });
    await expectFiles(first.files, a.files);
    expect(first.stats).toMatchObject({ bytesFromNetwork: a.manifest.totalBytes, chunksFetched: 23, chunksFromCache: 0, retries: 0 });
    expect(dataBytes()).toBe(a.manifest.totalBytes);
    const last = events.at(-1) as LoadProgress;
    expect(last).toMatchObject({ done: true, bytesDone: a.manifest.totalBytes, bytesTotal: a.manifest.totalBytes, etaSeconds: 0 });
    expect(last.files['data/weights.bin']).toEqual({ bytesDone: 20 * CHUNK + 123, bytesTotal: 20 * CHUNK + 123 });
    expect(events.map((e) => e.phase)).toContain('download');
    for (let i = 1; i < events.length; i++) expect((events[i] as LoadProgress).bytesDone).toBeGreaterThanOrEqual((events[i - 1] as LoadProgress).bytesDone);
    expect((await cache.listModels()).map((m) => m.name)).toEqual(['a']);

    server.resetStats();
    const second = await load('a', createFsCache({ dir }));
    await expectFiles(second.files, a.files);
    expect(second.stats).toMatchObject({ bytesFromNetwork: 0, chunksFetched: 0, chunksFromCache: 23, bytesFromCache: a.manifest.totalBytes });
    expect(dataBytes()).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches identical chunks once and copies them to every place', async () => {
    const r = await load('dup', createMemoryCache());
    await expectFiles(r.files, dup.files);
    expect(r.stats.chunksFetched).toBe(2);
    expect(dataBytes()).toBe(CHUNK + 100);
  });

  it('a new revision downloads only the chunks it lacks', async () => {
    const cache = createMemoryCache();
    await load('a', cache);
    server.resetStats();
    const r = await load('a2', cache);
    await expectFiles(r.files, a2.files);
    expect(r.stats.chunksFetched).toBe(2);
    expect(dataBytes()).toBe(CHUNK + 123);
    expect((await cache.listModels()).length).toBe(2);
  });

  it('bounds requests in flight by concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const counting: typeof fetch = async (input, init) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        const res = await fetch(input, init);
        return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
      } finally {
        inFlight--;
      }
    };
    server.setFaults([{ type: 'delay', ms: 5 }]);
    await load('a', 'memory', { concurrency: 3, fetch: counting });
    expect(peak).toBe(3);
  });

  it('falls back to one full GET per file when the server ignores Range, storing only chunks it lacks', async () => {
    const cache = createMemoryCache();
    await load('a', cache);
    const puts: string[] = [];
    const spy: ModelCache = { ...cache, putChunk: (h, b) => (puts.push(h), cache.putChunk(h, b)) };
    server.resetStats();
    server.setFaults([{ type: 'ignore-range' }]);
    const events: LoadProgress[] = [];
    const r = await load('a2', spy, { onProgress: (p) => events.push(p) });
    await expectFiles(r.files, a2.files);
    expect(r.stats.rangeFallbackFiles).toEqual(['data/weights.bin']);
    expect(events.at(-1)?.rangeFallbackFiles).toEqual(['data/weights.bin']);
    expect(puts.sort()).toEqual([a2.manifest.files[0]?.chunks[10], a2.manifest.files[0]?.chunks[20]].sort());
    // Both chunk tasks asked with Range and got 200: the first answer is streamed, the second cancelled.
    expect(server.stats().byPath['a2/data/weights.bin']?.requests).toBe(2);
    expect(server.stats().byPath['a2/data/weights.bin']?.bytes).toBeLessThanOrEqual(2 * (20 * CHUNK + 123));
  });

  it('fails with etag-changed when the file changes mid-load, and caches no manifest', async () => {
    const cache = createMemoryCache();
    server.setFaults([{ type: 'change-etag', path: 'weights.bin' }]);
    const err = await failure(load('a', cache));
    expect(err.code).toBe('etag-changed');
    expect(err.message).toMatch(/reload the manifest/);
    expect(err.details.file).toBe('data/weights.bin');
    expect(await cache.listModels()).toEqual([]);
    // Not one chunk of the changed file was kept (the first range already carried the new ETag).
    const changed = a.manifest.files.find((f) => f.path === 'data/weights.bin')!.chunks;
    expect((await cache.hasChunks(changed)).filter(Boolean)).toEqual([]);
    await expectCacheSound(cache, a.manifest, 0);
  });

  it('404 is not-found, without retries', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => (calls++, fetch(input, init));
    const err = await failure(loadPack(a.manifest, { cache: 'memory', baseUrl: `${server.url}/nowhere/`, retry: FAST_RETRY, concurrency: 1, fetch: counting }));
    expect(err.code).toBe('not-found');
    expect(err.details).toMatchObject({ file: 'data/weights.bin', chunk: 0, status: 404 });
    expect(calls).toBe(1);
  });

  it('retries 5xx with backoff, then fails with http-error naming file and chunk', async () => {
    server.setFaults([{ type: 'status', status: 503, count: 2, path: 'model.onnx' }]);
    const ok = await load('a', 'memory');
    expect(ok.stats.retries).toBe(2);
    await expectFiles(ok.files, a.files);

    server.resetStats();
    server.setFaults([{ type: 'status', status: 500, path: 'model.onnx' }]);
    const err = await failure(load('a', 'memory', { concurrency: 1 }));
    expect(err.code).toBe('http-error');
    expect(err.details).toMatchObject({ file: 'model.onnx', chunk: expect.any(Number), status: 500 });
    expect(server.stats().byPath['a/model.onnx']?.requests).toBe(FAST_RETRY.attempts);
  });

  it('retries a cut or short body, then fails with truncated-body', async () => {
    server.setFaults([{ type: 'truncate', mode: 'cut', count: 1, path: 'weights.bin' }]);
    const ok = await load('a', 'memory');
    expect(ok.stats.retries).toBe(1);
    await expectFiles(ok.files, a.files);

    server.setFaults([{ type: 'truncate', mode: 'short', path: 'model.onnx' }]);
    const err = await failure(load('a', 'memory', { concurrency: 1 }));
    expect(err.code).toBe('truncated-body');
    expect(err.details).toMatchObject({ file: 'model.onnx', chunk: 0 });
  });

  it('refetches a corrupt chunk and never caches it; repeated corruption is an integrity-error', async () => {
    const cache = createMemoryCache();
    server.setFaults([{ type: 'corrupt', count: 1, path: 'model.onnx' }]);
    const ok = await load('a', cache, { concurrency: 1 });
    expect(ok.stats.retries).toBe(1);
    await expectFiles(ok.files, a.files);
    await expectCacheSound(cache, a.manifest, new Set(a.manifest.files.flatMap((f) => f.chunks)).size);

    const fresh = createMemoryCache();
    server.setFaults([{ type: 'corrupt', path: 'weights.bin' }]);
    const err = await failure(load('a', fresh, { concurrency: 1 }));
    expect(err.code).toBe('integrity-error');
    expect(err.details).toMatchObject({ file: 'data/weights.bin', chunk: 0, attempts: 3 });
    expect(await fresh.hasChunks([a.manifest.files[0]?.chunks[0] as string])).toEqual([false]);
    await expectCacheSound(fresh, a.manifest, 0);
    expect(await fresh.listModels()).toEqual([]);
  });

  it('aborts promptly, cancels requests in flight and removes its listener', async () => {
    server.setFaults([{ type: 'stall', afterBytes: 100 }]);
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const addEventListener = controller.signal.addEventListener.bind(controller.signal);
    const removeEventListener = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => (added++, addEventListener(...args))) as AbortSignal['addEventListener'];
    controller.signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => (removed++, removeEventListener(...args))) as AbortSignal['removeEventListener'];
    const started = Date.now();
    const pending = load('a', createMemoryCache(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 150);
    const err = await failure(pending);
    expect(err.code).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(added).toBe(1);
    expect(removed).toBe(1);
  });

  it('resumes an aborted load, refetching at most the chunks in flight at the abort', async () => {
    const cache = createMemoryCache();
    const concurrency = 2;
    server.setFaults([{ type: 'delay', ms: 10 }]);
    const controller = new AbortController();
    const onProgress = (p: LoadProgress) => {
      if (p.bytesFromNetwork >= a.manifest.totalBytes / 2) controller.abort();
    };
    const err = await failure(load('a', cache, { signal: controller.signal, onProgress, progressIntervalMs: 0, concurrency }));
    expect(err.code).toBe('aborted');
    const firstBytes = dataBytes();
    const stored = (await cache.hasChunks(a.manifest.files.flatMap((f) => f.chunks))).filter(Boolean).length;
    expect(stored).toBeGreaterThan(5);
    expect(stored).toBeLessThan(23);

    server.setFaults([]);
    server.resetStats();
    const r = await load('a', cache, { concurrency });
    await expectFiles(r.files, a.files);
    expect(r.stats.chunksFromCache).toBe(stored);
    expect(r.stats.chunksFetched).toBe(23 - stored);
    // Across both loads, no more than the chunks in flight at the abort came twice.
    expect(firstBytes + dataBytes()).toBeLessThanOrEqual(a.manifest.totalBytes + concurrency * CHUNK);
  });

  it('continues a cut chunk from the byte it broke off at (never a byte twice), and still verifies it whole', async () => {
    server.setFaults([{ type: 'truncate', mode: 'cut', keepBytes: 3000, count: 1, path: 'weights.bin' }]);
    const cache = createMemoryCache();
    const r = await load('a', cache, { concurrency: 1 });
    await expectFiles(r.files, a.files);
    expect(r.stats.retries).toBe(1);
    expect(r.stats.bytesContinued).toBe(3000);
    expect(dataBytes()).toBe(a.manifest.totalBytes);
    expect(r.stats.bytesFromNetwork).toBe(a.manifest.totalBytes);
    await expectCacheSound(cache, a.manifest, new Set(a.manifest.files.flatMap((f) => f.chunks)).size);
  });

  it('an aborted load keeps what its downloads in flight received; the next load asks only for the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-partial-'));
    try {
      const cache = createFsCache({ dir });
      const weights = a.manifest.files.find((f) => f.path === 'data/weights.bin') as PackManifest['files'][number];
      server.setFaults([{ type: 'stall', afterBytes: 2000, path: 'weights.bin' }]);
      const controller = new AbortController();
      const pending = load('a', cache, { signal: controller.signal, concurrency: 2 });
      setTimeout(() => controller.abort(), 300);
      expect((await failure(pending)).code).toBe('aborted');
      const firstBytes = dataBytes();
      const kept = (await Promise.all(weights.chunks.map((h) => cache.getPartial!(h)))).filter((p) => p !== undefined);
      expect(kept.map((p) => p.byteLength)).toEqual([2000, 2000]);
      // A partial is never taken for a chunk.
      expect(await cache.hasChunks(weights.chunks.slice(0, 2))).toEqual([false, false]);

      server.setFaults([]);
      server.resetStats();
      const r = await load('a', cache, { concurrency: 2 });
      await expectFiles(r.files, a.files);
      expect(r.stats.bytesContinued).toBe(4000);
      // Across both loads every byte came exactly once.
      expect(firstBytes + dataBytes()).toBe(a.manifest.totalBytes);
      expect(await Promise.all(weights.chunks.map((h) => cache.getPartial!(h)))).toEqual(weights.chunks.map(() => undefined));
      await expectCacheSound(cache, a.manifest, new Set(a.manifest.files.flatMap((f) => f.chunks)).size);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a stored partial that does not match is discarded and its chunk fetched whole; nothing unverified is cached', async () => {
    const cache = createMemoryCache();
    const hash = a.manifest.files.find((f) => f.path === 'data/weights.bin')?.chunks[3] as string;
    await cache.putPartial!(hash, crypto.getRandomValues(new Uint8Array(1000)));
    const r = await load('a', cache, { concurrency: 1 });
    await expectFiles(r.files, a.files);
    expect(r.stats.retries).toBe(1);
    expect(r.stats.bytesContinued).toBe(0);
    expect(await cache.getPartial!(hash)).toBeUndefined();
    await expectCacheSound(cache, a.manifest, new Set(a.manifest.files.flatMap((f) => f.chunks)).size);
  });

  it('plans quota before any byte: quota-exceeded with numbers, or LRU eviction when allowed', async () => {
    const base = createMemoryCache();
    let cap = 10_000;
    const capped: ModelCache = { ...base, estimate: async () => { const e = await base.estimate(); return { ...e, available: cap - e.used }; } };
    const err = await failure(load('a', capped));
    expect(err.code).toBe('quota-exceeded');
    expect(err.details).toMatchObject({ neededBytes: a.manifest.totalBytes, availableBytes: 10_000 });
    expect(err.message).toMatch(/allowEviction/);
    expect(err.message).toMatch(/cache: 'memory'/);
    expect(dataBytes()).toBe(0);

    cap = a.manifest.totalBytes + CHUNK; // room for a, or for dup, not both
    await load('dup', capped, { now: () => 1 });
    expect(await failure(load('a', capped))).toMatchObject({ code: 'quota-exceeded' });
    const r = await load('a', capped, { allowEviction: true });
    expect(r.stats.evicted).toEqual([{ name: 'dup', revision: dup.manifest.revision }]);
    expect((await capped.listModels()).map((m) => m.name)).toEqual(['a']);
  });

  it("runs from memory with cache: 'memory' (no quota, nothing stored)", async () => {
    const r = await load('a', 'memory');
    await expectFiles(r.files, a.files);
  });

  it("externalDataAs: 'blob' gives external data as composed Blobs, graphs as bytes; the manifest lands only after every write", async () => {
    const memory = createMemoryCache();
    // A store whose last two chunk writes (as many as may trail the
    // downloads) finish only when the test lets them: the load returns first.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let writes = 0;
    const slow: ModelCache = { ...memory, putChunk: async (hash, bytes) => (++writes > 21 && (await gate), memory.putChunk(hash, bytes)) };
    const cold = await loadPack(url('a'), { cache: slow, retry: FAST_RETRY, externalDataAs: 'blob' });
    const weights = cold.files.get('data/weights.bin');
    expect(weights).toBeInstanceOf(Blob);
    expect(cold.files.get('model.onnx')).toBeInstanceOf(Uint8Array);
    expect(new Uint8Array(await (weights as Blob).arrayBuffer())).toEqual(a.files.get('data/weights.bin'));
    expect(cold.files.get('model.onnx')).toEqual(a.files.get('model.onnx'));
    // Files are verified and complete, but the cache has no manifest until the writes settle.
    expect(await memory.listModels()).toEqual([]);
    release();
    await cold.cached;
    expect((await memory.listModels()).map((m) => m.name)).toEqual(['a']);

    const warm = await loadPack(url('a'), { cache: memory, externalDataAs: 'blob' });
    await warm.cached;
    expect(warm.stats).toMatchObject({ chunksFetched: 0, chunksFromCache: 23 });
    expect(new Uint8Array(await (warm.files.get('data/weights.bin') as Blob).arrayBuffer())).toEqual(a.files.get('data/weights.bin'));

    // Identical chunks: one Blob, placed (sliced to size) everywhere it goes.
    const d = await loadPack(url('dup'), { cache: createMemoryCache(), externalDataAs: 'blob' });
    expect(d.files.get('d.onnx')).toEqual(dup.files.get('d.onnx')); // a graph: bytes, assembled from the parts
    expect(d.stats.chunksFetched).toBe(2);
  });

  it('rejects an invalid manifest with a clear error', async () => {
    const err = await failure(load('bad', 'memory'));
    expect(err.code).toBe('invalid-manifest');
    expect(err.message).toMatch(/"\.\.\/escape" is not a valid pack path/);
  });
});

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
