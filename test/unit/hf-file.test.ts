/**
 * loadHfFile against the hub look-alike: an interrupted download resumes with
 * only the missing chunks, and the synthesized manifest makes a reload free.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import { isTesseraError } from '../../src/errors.ts';
import { loadHfFile } from '../../src/fetch/hf-file.ts';
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
