/**
 * A cache that lives in memory: the "run from memory without caching" mode
 * (`loadPack(url, { cache: 'memory' })`, when the origin has no room) and a
 * reference implementation for tests. Nothing survives the process or tab.
 */
import type { PackManifest } from '../pack/manifest.ts';
import type { CachedModel, ModelCache, StorageEstimate } from './model-cache.ts';
import { modelKey, orphanChunks, partitionModels, toCachedModel, type ModelRecord } from './orphan-chunks.ts';

/**
 * @example
 * const cache = createMemoryCache();
 * const { files } = await loadPack(url, { cache });
 */
export function createMemoryCache(options: { now?: () => number } = {}): ModelCache {
  const now = options.now ?? Date.now;
  const chunks = new Map<string, Uint8Array>();
  const models = new Map<string, ModelRecord>();
  const partials = new Map<string, Uint8Array>();

  return {
    async hasChunks(hashes) {
      return hashes.map((h) => chunks.has(h));
    },
    async getChunk(hash) {
      return chunks.get(hash);
    },
    async putChunk(hash, bytes) {
      // Copy: the caller's view may be a window into a larger buffer it reuses.
      if (!chunks.has(hash)) chunks.set(hash, bytes.slice());
    },
    async getPartial(hash) {
      return partials.get(hash)?.slice();
    },
    async putPartial(hash, bytes) {
      partials.set(hash, bytes.slice());
    },
    async deletePartial(hash) {
      partials.delete(hash);
    },
    async getManifest(name, revision) {
      return models.get(modelKey(name, revision))?.manifest;
    },
    async putManifest(manifest: PackManifest) {
      const key = modelKey(manifest.name, manifest.revision);
      models.set(key, { manifest, lastUsed: models.get(key)?.lastUsed ?? now() });
    },
    async touch(name, revision, when = now()) {
      const record = models.get(modelKey(name, revision));
      if (record) record.lastUsed = when;
    },
    async listModels(): Promise<CachedModel[]> {
      return [...models.values()].map(toCachedModel);
    },
    async deleteModel(name, revision) {
      const { doomed, kept } = partitionModels([...models.values()], name, revision);
      for (const r of doomed) models.delete(modelKey(r.manifest.name, r.manifest.revision));
      for (const hash of orphanChunks(doomed.map((r) => r.manifest), kept.map((r) => r.manifest))) chunks.delete(hash);
    },
    async clear() {
      chunks.clear();
      models.clear();
      partials.clear();
    },
    async estimate(): Promise<StorageEstimate> {
      let used = 0;
      for (const c of chunks.values()) used += c.byteLength;
      // Memory is not planned here: the loader skips the quota check for this cache.
      return { available: Number.POSITIVE_INFINITY, used, persisted: false };
    },
    async persist() {
      return false;
    },
  };
}
