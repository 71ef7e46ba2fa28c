/**
 * The browser cache: IndexedDB through idb-keyval custom stores, one database
 * per store (idb-keyval's `createStore` opens a database with exactly one
 * object store, so chunks and models each get their own):
 *
 *   `<prefix>-chunks` / `chunks`   key: chunk SHA-256, value: Blob (ArrayBuffer in caches written before 0.1)
 *   `<prefix>-models` / `models`   key: `<name>@<revision>`, value: { manifest, lastUsed }
 *
 * A partial chunk (the bytes of a download that broke off, see ModelCache)
 * is kept in the chunks store under `partial:<hash>`: a key no hash lookup
 * can hit, in the database a clear() empties anyway.
 *
 * idb-keyval resolves a write when its transaction completes, so a put that
 * resolved is durable and a put that failed left nothing (IndexedDB
 * transactions are atomic): no half chunk is ever trusted.
 *
 * Chunks are stored as Blobs: Chromium keeps a large value in a file either
 * way, but an ArrayBuffer value is structured-cloned through the renderer on
 * every read, while a Blob is read straight from its file. Measured in
 * headless Chromium, 64 x 8 MiB: reads 650-920 MiB/s as Blobs against
 * 370-380 MiB/s as ArrayBuffers, writes 210-260 MiB/s either way. And
 * `new Blob([view])` copies just the view's bytes, where cloning a view
 * would copy its whole underlying buffer.
 */
import { createStore, delMany, del, get, getMany, promisifyRequest, set, values, clear as idbClear, type UseStore } from 'idb-keyval';
import { TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import type { CachedModel, ModelCache, StorageEstimate } from './model-cache.ts';
import { modelKey, orphanChunks, partitionModels, toCachedModel, type ModelRecord } from './orphan-chunks.ts';

/**
 * @example
 * const cache = createIdbCache();               // databases tessera-chunks, tessera-models
 * const test = createIdbCache({ prefix: 't1' }); // isolated databases for a test
 */
export function createIdbCache(options: { prefix?: string; now?: () => number; storage?: StorageManager } = {}): ModelCache {
  const prefix = options.prefix ?? 'tessera';
  const now = options.now ?? Date.now;
  // Stores are created lazily: createStore opens the database, which is I/O.
  let stores: { chunks: UseStore; models: UseStore } | undefined;
  const open = () => (stores ??= { chunks: createStore(`${prefix}-chunks`, 'chunks'), models: createStore(`${prefix}-models`, 'models') });
  const storage = () => options.storage ?? (globalThis.navigator as Navigator | undefined)?.storage;

  const guard = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      throw idbError(what, err);
    }
  };

  return {
    hasChunks(hashes) {
      // getKey reads no value, so checking 1,000 chunks costs no chunk bytes.
      return guard('check chunks', () =>
        open().chunks('readonly', (store) => Promise.all(hashes.map((h) => promisifyRequest(store.getKey(h)).then((k) => k !== undefined)))),
      );
    },
    getChunk(hash) {
      return guard(`read chunk ${hash}`, async () => {
        const value = await get<Blob | ArrayBuffer>(hash, open().chunks);
        if (value === undefined) return undefined;
        if (!(value instanceof Blob)) return new Uint8Array(value);
        try {
          return new Uint8Array(await value.arrayBuffer());
        } catch (err) {
          // The Blob's backing file is gone (site data cleared under us): the
          // chunk is missing, and the loader fetches it again.
          const name = (err as DOMException | undefined)?.name;
          if (name === 'NotReadableError' || name === 'NotFoundError') return undefined;
          throw err;
        }
      });
    },
    getChunkBlobs(hashes) {
      return guard(`read ${hashes.length} chunks`, async () => {
        const values = await getMany<Blob | ArrayBuffer | undefined>(hashes, open().chunks);
        return values.map((value) => (value === undefined ? undefined : value instanceof Blob ? value : new Blob([value])));
      });
    },
    getChunkBlob(hash) {
      return guard(`read chunk ${hash}`, async () => {
        const value = await get<Blob | ArrayBuffer>(hash, open().chunks);
        if (value === undefined) return undefined;
        // Stored by an older version as an ArrayBuffer: the structured clone
        // already copied it here, so wrapping it costs nothing more.
        return value instanceof Blob ? value : new Blob([value]);
      });
    },
    putChunkBlob(hash, blob) {
      return guard(`store chunk ${hash}`, () => set(hash, blob, open().chunks));
    },
    putChunk(hash, bytes) {
      // The Blob owns a copy of exactly these bytes: the caller's buffer may be
      // reused or collected at once. A Blob refuses views of shared memory.
      const own = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
      const blob = new Blob([own]);
      return guard(`store chunk ${hash}`, () => set(hash, blob, open().chunks));
    },
    getPartial(hash) {
      return guard(`read partial chunk ${hash}`, async () => {
        const value = await get<Blob>(partialKey(hash), open().chunks);
        if (!(value instanceof Blob)) return undefined;
        try {
          return new Uint8Array(await value.arrayBuffer());
        } catch {
          return undefined; // its backing file is gone: start the chunk from byte 0
        }
      });
    },
    putPartial(hash, bytes) {
      const blob = new Blob([bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice()]);
      return guard(`store partial chunk ${hash}`, () => set(partialKey(hash), blob, open().chunks));
    },
    deletePartial(hash) {
      return guard(`delete partial chunk ${hash}`, () => del(partialKey(hash), open().chunks));
    },
    getManifest(name, revision) {
      return guard(`read manifest ${name}@${revision}`, async () => (await get<ModelRecord>(modelKey(name, revision), open().models))?.manifest);
    },
    putManifest(manifest: PackManifest) {
      const key = modelKey(manifest.name, manifest.revision);
      return guard(`store manifest ${key}`, async () => {
        const previous = await get<ModelRecord>(key, open().models);
        await set(key, { manifest, lastUsed: previous?.lastUsed ?? now() } satisfies ModelRecord, open().models);
      });
    },
    touch(name, revision, when = now()) {
      const key = modelKey(name, revision);
      return guard(`touch ${key}`, async () => {
        const record = await get<ModelRecord>(key, open().models);
        if (record) await set(key, { ...record, lastUsed: when }, open().models);
      });
    },
    listModels(): Promise<CachedModel[]> {
      return guard('list models', async () => (await values<ModelRecord>(open().models)).map(toCachedModel));
    },
    deleteModel(name, revision) {
      return guard(`delete ${name}`, async () => {
        const { doomed, kept } = partitionModels(await values<ModelRecord>(open().models), name, revision);
        // Records first: an interruption leaves unreferenced chunks, never a record missing chunks.
        for (const r of doomed) await del(modelKey(r.manifest.name, r.manifest.revision), open().models);
        await delMany(orphanChunks(doomed.map((r) => r.manifest), kept.map((r) => r.manifest)), open().chunks);
      });
    },
    clear() {
      return guard('clear', async () => {
        await idbClear(open().models);
        await idbClear(open().chunks);
      });
    },
    async estimate(): Promise<StorageEstimate> {
      const manager = storage();
      if (!manager?.estimate) return { available: Number.POSITIVE_INFINITY, used: 0, persisted: false };
      const { quota = Number.POSITIVE_INFINITY, usage = 0 } = await manager.estimate();
      const persisted = manager.persisted ? await manager.persisted() : false;
      return { available: Math.max(0, quota - usage), used: usage, persisted };
    },
    async persist() {
      const manager = storage();
      // persist() may be missing (older Safari, some workers) or refused: a hint, never an error.
      if (!manager?.persist) return false;
      return manager.persist().catch(() => false);
    },
  };
}

const partialKey = (hash: string) => `partial:${hash}`;

function idbError(what: string, cause: unknown): TesseraError {
  const name = (cause as DOMException | undefined)?.name;
  if (name === 'QuotaExceededError') {
    return new TesseraError('quota-exceeded', `could not ${what}: the browser's storage quota is full; free space, pass allowEviction, or load with cache: 'memory'`, { cause });
  }
  return new TesseraError('cache-error', `could not ${what} in IndexedDB: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}
