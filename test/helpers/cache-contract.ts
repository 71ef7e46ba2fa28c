/**
 * The behaviour every ModelCache must have, as one suite run against each
 * implementation (memory and fs in Node, IndexedDB in Chromium).
 */
import { describe, expect, it } from 'vitest';
import type { ModelCache } from '../../src/cache/model-cache.ts';
import { buildManifest } from '../../src/pack/build-manifest.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { sha256Hex } from '../../src/pack/sha256.ts';

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

async function pack(name: string, data: Uint8Array): Promise<PackManifest> {
  return buildManifest({ name, kind: 'onnx', chunkSize: 4096, graphs: [{ path: 'm.onnx', externalData: [] }], files: [{ path: 'm.onnx', bytes: data, role: 'graph' }] });
}

async function storeAll(cache: ModelCache, manifest: PackManifest, data: Uint8Array): Promise<void> {
  for (const [i, hash] of (manifest.files[0]?.chunks ?? []).entries()) await cache.putChunk(hash, data.subarray(i * 4096, (i + 1) * 4096));
  await cache.putManifest(manifest);
}

export function describeModelCache(label: string, make: () => Promise<ModelCache>): void {
  describe(`${label} (ModelCache contract)`, () => {
    it('round-trips chunks by hash and stores only the view it was given', async () => {
      const cache = await make();
      const big = randomBytes(3 * 4096);
      const view = big.subarray(4096, 8192);
      const hash = await sha256Hex(view);
      expect(await cache.hasChunks([hash])).toEqual([false]);
      await cache.putChunk(hash, view);
      expect(await cache.hasChunks([hash, 'f'.repeat(64)])).toEqual([true, false]);
      const back = await cache.getChunk(hash);
      expect(back?.byteLength).toBe(4096);
      expect(await sha256Hex(back as Uint8Array)).toBe(hash);
      expect(await cache.getChunk('e'.repeat(64))).toBeUndefined();
      if (cache.getChunkBlobs) {
        // The batch read answers in the order asked, with the missing ones undefined.
        const blobs = await cache.getChunkBlobs(['e'.repeat(64), hash, hash]);
        expect(blobs.map((b) => b?.size)).toEqual([undefined, 4096, 4096]);
        expect(await sha256Hex(new Uint8Array(await (blobs[1] as Blob).arrayBuffer()))).toBe(hash);
        expect(await cache.getChunkBlobs([])).toEqual([]);
      }
    });

    it('lists models with bytes and last-used time, touches, deletes keeping shared chunks, clears', async () => {
      const cache = await make();
      const shared = randomBytes(4096 * 2);
      const a = concat(shared, randomBytes(4096));
      const b = concat(shared, randomBytes(4096));
      const ma = await pack('a', a);
      const mb = await pack('b', b);
      await storeAll(cache, ma, a);
      await storeAll(cache, mb, b);
      await cache.touch('a', ma.revision, 1000);
      await cache.touch('b', mb.revision, 2000);
      const list = (await cache.listModels()).sort((x, y) => x.name.localeCompare(y.name));
      expect(list).toEqual([
        { name: 'a', revision: ma.revision, bytes: a.byteLength, lastUsed: 1000 },
        { name: 'b', revision: mb.revision, bytes: b.byteLength, lastUsed: 2000 },
      ]);
      expect((await cache.getManifest('a', ma.revision))?.files[0]?.sha256).toBe(ma.files[0]?.sha256);

      await cache.deleteModel('a');
      expect(await cache.getManifest('a', ma.revision)).toBeUndefined();
      const aChunks = ma.files[0]?.chunks ?? [];
      // The two shared chunks stay (b needs them), a's own third chunk goes.
      expect(await cache.hasChunks(aChunks)).toEqual([true, true, false]);
      expect(await cache.hasChunks(mb.files[0]?.chunks ?? [])).toEqual([true, true, true]);
      expect((await cache.listModels()).map((m) => m.name)).toEqual(['b']);

      await cache.clear();
      expect(await cache.listModels()).toEqual([]);
      expect(await cache.hasChunks(mb.files[0]?.chunks ?? [])).toEqual([false, false, false]);
    });

    it('keeps partial chunks apart from chunks: round-trip, replace, delete, clear', async () => {
      const cache = await make();
      if (!cache.putPartial || !cache.getPartial || !cache.deletePartial) throw new Error(`${label} has no partial chunks`);
      const hash = 'ab'.repeat(32);
      const whole = crypto.getRandomValues(new Uint8Array(300));
      await cache.putPartial(hash, whole.subarray(0, 100));
      expect(await cache.getPartial(hash)).toEqual(whole.slice(0, 100));
      expect(await cache.hasChunks([hash])).toEqual([false]);
      expect(await cache.getChunk(hash)).toBeUndefined();
      await cache.putPartial(hash, whole.subarray(0, 200));
      expect((await cache.getPartial(hash))?.byteLength).toBe(200);
      await cache.deletePartial(hash);
      expect(await cache.getPartial(hash)).toBeUndefined();
      await cache.putPartial(hash, whole.subarray(0, 50));
      await cache.clear();
      expect(await cache.getPartial(hash)).toBeUndefined();
    });

    it('estimates storage', async () => {
      const cache = await make();
      const e = await cache.estimate();
      expect(e.available).toBeGreaterThan(0);
      expect(e.used).toBeGreaterThanOrEqual(0);
      expect(typeof (await cache.persist())).toBe('boolean');
    });
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
