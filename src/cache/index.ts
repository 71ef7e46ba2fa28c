/**
 * The cache's public surface. The fs cache is not re-exported: importing it
 * pulls `node:fs`; Node code imports `./fs-cache.ts` directly or uses defaultCache().
 */
export type { ModelCache, CachedModel, StorageEstimate } from './model-cache.ts';
export { createMemoryCache } from './memory-cache.ts';
export { createIdbCache } from './idb-cache.ts';
export { defaultCache } from './default-cache.ts';
export { evictLeastRecentlyUsed, type EvictionResult } from './evict-lru.ts';
