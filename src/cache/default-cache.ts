/**
 * Picks the cache for where the code runs: IndexedDB in browsers and workers,
 * a directory in Node. The fs cache is imported dynamically so a browser
 * bundle never pulls `node:fs`.
 */
import type { ModelCache } from './model-cache.ts';

/**
 * @example
 * const cache = await defaultCache();
 * console.table(await cache.listModels());
 */
export async function defaultCache(options: { dir?: string; prefix?: string } = {}): Promise<ModelCache> {
  if (typeof indexedDB !== 'undefined') {
    const { createIdbCache } = await import('./idb-cache.ts');
    return createIdbCache(options.prefix === undefined ? {} : { prefix: options.prefix });
  }
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (isNode) {
    const { createFsCache } = await import('./fs-cache.ts');
    return createFsCache(options.dir === undefined ? {} : { dir: options.dir });
  }
  const { createMemoryCache } = await import('./memory-cache.ts');
  return createMemoryCache();
}
