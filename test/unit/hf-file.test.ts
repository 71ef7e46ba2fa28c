/**
 * loadHfFile against the hub look-alike: an interrupted download resumes with
 * only the missing chunks, a range that broke off is continued from its last
 * byte (within a load and across loads), and the synthesized manifest makes a
 * reload free.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFsCache } from '../../src/cache/fs-cache.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import type { ModelCache } from '../../src/cache/model-cache.ts';
import { isTesseraError } from '../../src/errors.ts';
import { loadHfFile } from '../../src/fetch/hf-file.ts';
import { hfPartialKey } from '../../src/fetch/hf-partials.ts';
import { sha256Hex } from '../../src/pack/sha256.ts';
import { randomData } from '../helpers/range-server.ts';
import { startHfServer, type HfServer } from '../helpers/hf-server.ts';

const CHUNK = 64 * 1024;
let dir: string;
let hub: HfServer;
let bytes: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-hf-file-'));
  bytes = randomData(10 * CHUNK + 123);
  await writeFile(join(dir, 'model.bin'), bytes);
  hub = await startHfServer({ repos: { 'org/m': dir } });
});
afterAll(async () => {
  await hub.close();
  await rm(dir, { recursive: true, force: true });
});

it('resumes an interrupted download with only the missing chunks, then reloads from the cache', async () => {
  const cache = createMemoryCache();
  const repo = `${hub.url}/org/m/resolve/main/`;
  const controller = new AbortController();
  let ranged = 0;
  const cutting: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (new Headers(init?.headers).has('Range') && ++ranged === 5) controller.abort(new Error('tab closed'));
    return res;
  };
  const err = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, concurrency: 1, parts: 1, fetch: cutting, signal: controller.signal }).catch((e: unknown) => e);
  expect(isTesseraError(err, 'aborted')).toBe(true);

  hub.resetStats();
  const resumed = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK });
  expect(resumed?.data).toEqual(bytes);
  expect(resumed?.verified).toBe(true);
  // 11 chunks; 4 were stored before the cut, so at most 7 (+1 cut in flight) are fetched again.
  expect(resumed!.chunksFetched).toBeLessThanOrEqual(7);
  expect(hub.stats().bytes).toBeLessThanOrEqual(bytes.byteLength - 4 * CHUNK);

  hub.resetStats();
  const reloaded = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK });
  expect(reloaded?.data).toEqual(bytes);
  expect(hub.stats().requests).toBe(0);
  expect(await loadHfFile(repo, 'missing.json', { cache })).toBeUndefined();
});

it('fetches each chunk as parallel sub-ranges, so a cut at 50% loses at most the 2 open chunks', async () => {
  const cache = createMemoryCache();
  const repo = `${hub.url}/org/m/resolve/main/`;
  const controller = new AbortController();
  let received = 0;
  hub.resetStats();
  const err = await loadHfFile(repo, 'model.bin', {
    cache,
    chunkSize: CHUNK,
    concurrency: 4,
    parts: 2,
    signal: controller.signal,
    onBytes: (n) => {
      received += n;
      if (received >= bytes.byteLength / 2) controller.abort(new Error('tab closed'));
    },
  }).catch((e: unknown) => e);
  expect(isTesseraError(err, 'aborted')).toBe(true);
  const sentBeforeCut = hub.stats().bytes;

  hub.resetStats();
  const resumed = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, parts: 3 });
  expect(resumed?.data).toEqual(bytes);
  // Bytes sent twice: everything sent before the cut that the resume had to fetch again.
  expect(sentBeforeCut + hub.stats().bytes - bytes.byteLength).toBeLessThanOrEqual(2 * CHUNK);
});

interface Fault {
  type: 'cut' | 'stall';
  /** Bytes of the range the client gets before the fault. */
  keep: number;
}

/**
 * A fetch whose ranged GETs, where `faultOf` says so, ask the hub for only the
 * first `keep` bytes of the range and hand them on as the start of the whole
 * range's 206; then the body breaks off (`cut`, as undici reports a closed
 * socket) or hangs until the load aborts (`stall`). The hub's byte counters
 * then hold exactly what the client received. `stalled` settles as each
 * stall is reached (the client has read the `keep` bytes and waits for more).
 */
function faultyFetch(faultOf: (request: number) => Fault | undefined) {
  let ranged = 0;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let stalls = 0;
  const fetchFn: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    const range = headers.get('Range');
    const fault = range === null ? undefined : faultOf(++ranged);
    if (!fault || range === null) return fetch(input, init);
    const [start, end] = (/^bytes=(\d+)-(\d+)$/.exec(range) as RegExpExecArray).slice(1).map(Number) as [number, number];
    headers.set('Range', `bytes=${start}-${start + fault.keep - 1}`);
    const real = await fetch(input, { ...init, headers });
    const first = new Uint8Array(await real.arrayBuffer());
    expect(first.byteLength).toBe(fault.keep);
    const signal = init?.signal ?? undefined;
    let sent = false;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (!sent) return void ((sent = true), c.enqueue(first));
          if (fault.type === 'cut') return c.error(new TypeError('terminated'));
          stalls += 1;
          for (const w of waiters.filter((w) => w.count <= stalls)) w.resolve();
          return new Promise<void>((resolve) => {
            signal?.addEventListener('abort', () => (c.error(signal.reason), resolve()), { once: true });
          });
        },
      },
      { highWaterMark: 0 },
    );
    const out = new Headers(real.headers);
    out.set('Content-Range', `bytes ${start}-${end}/${bytes.byteLength}`);
    out.set('Content-Length', String(end - start + 1));
    return new Response(body, { status: 206, headers: out });
  };
  const stalled = (count: number) => new Promise<void>((resolve) => (stalls >= count ? resolve() : waiters.push({ count, resolve })));
  return { fetch: fetchFn, stalled };
}

const etagOf = async (data: Uint8Array) => `"${await sha256Hex(data)}"`;
const FAST = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };

it('continues a cut sub-range from the byte it broke off at: every byte sent exactly once', async () => {
  const cache = createMemoryCache();
  const repo = `${hub.url}/org/m/resolve/main/`;
  const { fetch: cutting } = faultyFetch((n) => (n === 3 ? { type: 'cut', keep: 3000 } : undefined));
  hub.resetStats();
  const r = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, fetch: cutting, retry: FAST });
  expect(r?.data).toEqual(bytes);
  expect(r?.verified).toBe(true);
  expect(r?.bytesContinued).toBe(3000);
  expect(r?.bytesFromNetwork).toBe(bytes.byteLength);
  expect(hub.stats().bytes).toBe(bytes.byteLength);
});

it('keeps a cut range of a failed load; the next load (with other parts) asks only for the rest', async () => {
  const cache = createMemoryCache();
  const repo = `${hub.url}/org/m/resolve/main/`;
  // One stream (one part of one chunk at a time), so nothing else is in flight when chunk 4 breaks off.
  const { fetch: cutting } = faultyFetch((n) => (n === 5 ? { type: 'cut', keep: 10_000 } : undefined));
  hub.resetStats();
  const err = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, concurrency: 1, parts: 1, fetch: cutting, retry: { attempts: 1 } }).catch((e: unknown) => e);
  expect(isTesseraError(err, 'truncated-body')).toBe(true);
  const firstBytes = hub.stats().bytes;
  expect(firstBytes).toBe(4 * CHUNK + 10_000);
  const key = await hfPartialKey(repo, 'model.bin', await etagOf(bytes), 4 * CHUNK);
  expect((await cache.getPartial!(key))?.byteLength).toBe(10_000);
  // A partial is no chunk: the cache holds the 4 stored chunks' bytes only.
  expect((await cache.estimate()).used).toBe(4 * CHUNK);

  hub.resetStats();
  const r = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, parts: 2 });
  expect(r?.data).toEqual(bytes);
  expect(r?.bytesContinued).toBe(10_000);
  expect(firstBytes + hub.stats().bytes).toBe(bytes.byteLength);
  expect(await cache.getPartial!(key)).toBeUndefined();
});

it.each(['memory', 'directory'] as const)("an aborted load's stalled parts are continued by the next load: both loads fetch the file exactly once (%s cache)", async (kind) => {
  const cache = kind === 'memory' ? createMemoryCache() : createFsCache({ dir: await mkdtemp(join(dir, 'cache-')) });
  const repo = `${hub.url}/org/m/resolve/main/`;
  const controller = new AbortController();
  // 4 streams = 2 chunks of 2 parts: chunks 0 and 1 come whole, chunks 2 and 3 stall after 10 000 bytes of each part.
  const { fetch: stalling, stalled } = faultyFetch((n) => (n > 4 ? { type: 'stall', keep: 10_000 } : undefined));
  hub.resetStats();
  const pending = loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, concurrency: 4, parts: 2, fetch: stalling, signal: controller.signal }).catch((e: unknown) => e);
  await stalled(4);
  controller.abort(new Error('tab closed'));
  expect(isTesseraError(await pending, 'aborted')).toBe(true);
  const firstBytes = hub.stats().bytes;
  expect(firstBytes).toBe(2 * CHUNK + 4 * 10_000);
  const etag = await etagOf(bytes);
  const keys = await Promise.all([2 * CHUNK, 2.5 * CHUNK, 3 * CHUNK, 3.5 * CHUNK].map((start) => hfPartialKey(repo, 'model.bin', etag, start)));
  expect((await Promise.all(keys.map((k) => cache.getPartial!(k)))).map((p) => p?.byteLength)).toEqual([10_000, 10_000, 10_000, 10_000]);
  expect((await cache.estimate()).used).toBe(2 * CHUNK);

  hub.resetStats();
  const r = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK });
  expect(r?.data).toEqual(bytes);
  expect(r?.verified).toBe(true);
  expect(r?.chunksFetched).toBe(9);
  expect(r?.bytesContinued).toBe(4 * 10_000);
  expect(firstBytes + hub.stats().bytes).toBe(bytes.byteLength);
  expect(await Promise.all(keys.map((k) => cache.getPartial!(k)))).toEqual(keys.map(() => undefined));
  expect((await cache.estimate()).used).toBe(bytes.byteLength);
});

it('a forged partial is discarded when the file fails its SHA-256, its chunk fetched whole; nothing unverified is cached', async () => {
  const cache = createMemoryCache();
  const repo = `${hub.url}/org/m/resolve/main/`;
  const key = await hfPartialKey(repo, 'model.bin', await etagOf(bytes), 3 * CHUNK);
  await cache.putPartial!(key, crypto.getRandomValues(new Uint8Array(1000)));
  hub.resetStats();
  const r = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK });
  expect(r?.data).toEqual(bytes);
  expect(r?.verified).toBe(true);
  expect(r?.bytesContinued).toBe(0);
  // The rest of the forged chunk, then the whole chunk again.
  expect(hub.stats().bytes).toBe(bytes.byteLength - 1000 + CHUNK);
  expect(await cache.getPartial!(key)).toBeUndefined();
  // Only the file's own chunks are stored: the chunk built on the forged bytes never was.
  expect((await cache.estimate()).used).toBe(bytes.byteLength);

  hub.resetStats();
  expect((await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK }))?.data).toEqual(bytes);
  expect(hub.stats().requests).toBe(0);
});

it('keeps no partials for a file without an ETag', async () => {
  const base = createMemoryCache();
  let puts = 0;
  const cache: ModelCache = { ...base, putPartial: async (k, b) => void (puts++, await base.putPartial!(k, b)) };
  const repo = `${hub.url}/org/m/resolve/main/`;
  const { fetch: cutting } = faultyFetch((n) => (n === 2 ? { type: 'cut', keep: 10_000 } : undefined));
  const noEtag: typeof fetch = async (input, init) => {
    const res = await cutting(input, init);
    const headers = new Headers(res.headers);
    for (const h of ['ETag', 'X-Linked-Etag']) headers.delete(h);
    return new Response(res.body, { status: res.status, headers });
  };
  const err = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, concurrency: 1, parts: 1, fetch: noEtag, retry: { attempts: 1 } }).catch((e: unknown) => e);
  expect(isTesseraError(err, 'truncated-body')).toBe(true);
  expect(puts).toBe(0);
  const r = await loadHfFile(repo, 'model.bin', { cache, chunkSize: CHUNK, fetch: noEtag });
  expect(r?.data).toEqual(bytes);
  expect(r?.verified).toBe(false);
  expect(r?.bytesContinued).toBe(0);
});
