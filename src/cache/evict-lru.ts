/**
 * Least-recently-used eviction. Only the loader calls it, and only when the
 * caller passed `allowEviction`: deleting someone's models is never implicit.
 */
import type { ModelCache } from './model-cache.ts';

export interface EvictionResult {
  evicted: Array<{ name: string; revision: string }>;
  available: number;
}

/**
 * Deletes the least recently used models (never `keep`) until `neededBytes`
 * fit, re-asking the estimate after each one: shared chunks mean a model
 * frees less than its size.
 *
 * @example
 * const { available } = await evictLeastRecentlyUsed(cache, { neededBytes: 5e8, keep: { name: 'mlp' } });
 */
export async function evictLeastRecentlyUsed(
  cache: ModelCache,
  options: { neededBytes: number; keep?: { name: string; revision?: string } },
): Promise<EvictionResult> {
  const evicted: EvictionResult['evicted'] = [];
  let { available } = await cache.estimate();
  if (available >= options.neededBytes) return { evicted, available };
  const keep = options.keep;
  const candidates = (await cache.listModels())
    .filter((m) => !(keep && m.name === keep.name && (keep.revision === undefined || m.revision === keep.revision)))
    .sort((a, b) => a.lastUsed - b.lastUsed);
  for (const model of candidates) {
    await cache.deleteModel(model.name, model.revision);
    evicted.push({ name: model.name, revision: model.revision });
    ({ available } = await cache.estimate());
    if (available >= options.neededBytes) break;
  }
  return { evicted, available };
}
