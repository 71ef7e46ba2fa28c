import { beforeEach, describe, expect, inject, it } from 'vitest';
import { createIdbCache } from '../../src/cache/idb-cache.ts';
import type { ModelCache } from '../../src/cache/model-cache.ts';
import { isTesseraError } from '../../src/errors.ts';
import { loadPack } from '../../src/fetch/load-pack.ts';
import type { LoadProgress } from '../../src/fetch/progress.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { sha256Hex } from '../../src/pack/sha256.ts';
import type { FaultRule, ServerStats } from '../helpers/range-server.ts';

const server = inject('rangeServerUrl');
const packs = inject('fixturePacks');
const FAST_RETRY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 10 };

async function control(path: 'faults' | 'reset', body?: FaultRule[]): Promise<void> {
  const res = await fetch(`${server}/__control/${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  expect(res.ok).toBe(true);
}
async function bytesServed(prefix: string): Promise<number> {
  const stats = (await (await fetch(`${server}/__control/stats`)).json()) as ServerStats;
  return Object.entries(stats.byPath).filter(([p]) => p.startsWith(prefix) && !p.endsWith('manifest.json')).reduce((s, [, v]) => s + v.bytes, 0);
}
async function expectIntact(files: Map<string, Uint8Array>, manifest: PackManifest) {
  for (const f of manifest.files) expect(await sha256Hex(files.get(f.path) as Uint8Array)).toBe(f.sha256);
}
const freshCache = (): ModelCache => createIdbCache({ prefix: `loader-${crypto.randomUUID()}` });

describe('loadPack in Chromium (range server over CORS, IndexedDB)', () => {
  beforeEach(async () => {
    await control('faults', []);
  });

  it('loads a pack into IndexedDB; a second load reads zero bytes from the network', async () => {
    const prefix = `loader-${crypto.randomUUID()}`;
    const cache = createIdbCache({ prefix });
    const before = await bytesServed('_loader/r1/');
    const events: LoadProgress[] = [];
    const first = await loadPack(`${server}/_loader/r1/manifest.json`, { cache, onProgress: (p) => events.push(p) });
    await expectIntact(first.files, first.manifest);
    expect(first.stats.bytesFromNetwork).toBe(first.manifest.totalBytes);
    expect((await bytesServed('_loader/r1/')) - before).toBe(first.manifest.totalBytes);
    expect(events.at(-1)).toMatchObject({ done: true, bytesDone: first.manifest.totalBytes });
    expect(await cache.listModels()).toEqual([expect.objectContaining({ name: '_loader-r1', bytes: first.manifest.totalBytes })]);

    const mid = await bytesServed('_loader/r1/');
    // A new cache object on the same databases: what a reload of the page gets.
    const second = await loadPack(`${server}/_loader/r1/manifest.json`, { cache: createIdbCache({ prefix }) });
    await expectIntact(second.files, second.manifest);
    expect(second.stats).toMatchObject({ bytesFromNetwork: 0, chunksFetched: 0, bytesFromCache: second.manifest.totalBytes });
    expect((await bytesServed('_loader/r1/')) - mid).toBe(0);
  });

  it('a new revision (mlp-v2 after mlp) fetches only the chunks it lacks', async () => {
    const cache = freshCache();
    const v1 = await loadPack(`${server}/mlp/manifest.json`, { cache });
    expect(v1.manifest.revision).toBe(packs.mlp.revision);
    const v2 = await loadPack(`${server}/mlp-v2/manifest.json`, { cache });
    await expectIntact(v2.files, v2.manifest);
    const oldChunks = new Set(v1.manifest.files.flatMap((f) => f.chunks));
    const lacking = new Set(v2.manifest.files.flatMap((f) => f.chunks).filter((h) => !oldChunks.has(h)));
    expect(lacking.size).toBeGreaterThan(0);
    expect(v2.stats.chunksFetched).toBe(lacking.size);
    expect(v2.stats.chunksFromCache).toBeGreaterThan(lacking.size);
    expect((await cache.listModels()).map((m) => m.revision).sort()).toEqual([packs.mlp.revision, packs['mlp-v2'].revision].sort());
  });

  it('a corrupt chunk is refetched, and one that stays corrupt never reaches IndexedDB', async () => {
    const cache = freshCache();
    await control('faults', [{ type: 'corrupt', path: '_loader/r2/weights.bin', count: 1 }]);
    const ok = await loadPack(`${server}/_loader/r2/manifest.json`, { cache, retry: FAST_RETRY, concurrency: 1 });
    await expectIntact(ok.files, ok.manifest);
    expect(ok.stats.retries).toBe(1);

    const cache2 = freshCache();
    await control('faults', [{ type: 'corrupt', path: '_loader/r3/weights.bin' }]);
    const err = await loadPack(`${server}/_loader/r3/manifest.json`, { cache: cache2, retry: FAST_RETRY, concurrency: 2 }).catch((e: unknown) => e);
    expect(isTesseraError(err, 'integrity-error')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({ file: 'weights.bin' });
    const manifest = (await (await fetch(`${server}/_loader/r3/manifest.json`)).json()) as PackManifest;
    const weights = manifest.files.find((f) => f.path === 'weights.bin') as PackManifest['files'][number];
    // Every weights chunk is corrupted on the wire, so none may be stored; the manifest is not recorded.
    expect(await cache2.hasChunks(weights.chunks)).toEqual(weights.chunks.map(() => false));
    expect(await cache2.listModels()).toEqual([]);
  });
});
