import { get, set, createStore } from 'idb-keyval';
import { describe, expect, it } from 'vitest';
import { defaultCache } from '../../src/cache/default-cache.ts';
import { createIdbCache } from '../../src/cache/idb-cache.ts';
import { sha256Hex } from '../../src/pack/sha256.ts';
import { describeModelCache } from '../helpers/cache-contract.ts';

const prefix = () => `t-${crypto.randomUUID()}`;

describeModelCache('IndexedDB cache', async () => createIdbCache({ prefix: prefix() }));

describe('IndexedDB cache in Chromium', () => {
  it('stores exactly the chunk bytes, not the larger buffer a view points into', async () => {
    const p = prefix();
    const cache = createIdbCache({ prefix: p });
    const big = crypto.getRandomValues(new Uint8Array(65536));
    const view = big.subarray(4096, 8192);
    const hash = await sha256Hex(view);
    await cache.putChunk(hash, view);
    const raw = await get<Blob>(hash, createStore(`${p}-chunks`, 'chunks'));
    expect(raw).toBeInstanceOf(Blob);
    expect(raw?.size).toBe(4096);
    expect(await cache.getChunk(hash)).toEqual(view.slice());
  });

  it('stores a chunk handed over in shared memory', async () => {
    const cache = createIdbCache({ prefix: prefix() });
    // This page is not cross-origin isolated, so no SharedArrayBuffer constructor: shared wasm memory is one.
    const shared = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer, 0, 4096);
    expect(shared.buffer).not.toBeInstanceOf(ArrayBuffer);
    shared.set(crypto.getRandomValues(new Uint8Array(4096)));
    const hash = await sha256Hex(shared.slice());
    await cache.putChunk(hash, shared);
    expect(await cache.getChunk(hash)).toEqual(shared.slice());
  });

  it('still reads chunks that older versions stored as ArrayBuffers', async () => {
    const p = prefix();
    const bytes = crypto.getRandomValues(new Uint8Array(4096));
    const hash = await sha256Hex(bytes);
    await set(hash, bytes.slice().buffer, createStore(`${p}-chunks`, 'chunks'));
    expect(await createIdbCache({ prefix: p }).getChunk(hash)).toEqual(bytes);
  });

  it('reports the origin quota and asks for persistence', async () => {
    const cache = createIdbCache({ prefix: prefix() });
    const e = await cache.estimate();
    expect(e.available).toBeGreaterThan(1024 * 1024);
    expect(Number.isFinite(e.available)).toBe(true);
    expect(typeof (await cache.persist())).toBe('boolean');
  });

  it('defaultCache() picks IndexedDB in a browser', async () => {
    const p = prefix();
    const cache = await defaultCache({ prefix: p });
    const bytes = crypto.getRandomValues(new Uint8Array(100));
    const hash = await sha256Hex(bytes);
    await cache.putChunk(hash, bytes);
    // Another IndexedDB cache on the same prefix sees the chunk: it went to IndexedDB, under that prefix.
    expect((await createIdbCache({ prefix: p }).hasChunks([hash]))[0]).toBe(true);
    expect((await createIdbCache({ prefix: 'never-used' }).hasChunks([hash]))[0]).toBe(false);
  });
});
