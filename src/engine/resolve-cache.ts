/**
 * Turns a cache option into a ModelCache where the session lives (inside the
 * worker, for the worker transport). Implementations are imported on demand so
 * a browser bundle never pulls the Node one (`node:fs`) and vice versa.
 */
import { TesseraError } from '../errors.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import type { CacheSpec } from './engine.ts';

/**
 * @example
 * const cache = await resolveCache({ type: 'indexeddb', prefix: 'test-1' });
 */
export async function resolveCache(option: CacheSpec | ModelCache | undefined): Promise<ModelCache> {
  const spec = option ?? { type: 'default' };
  if (!isCacheSpec(spec)) return spec;
  switch (spec.type) {
    case 'default': {
      const { defaultCache } = await import('../cache/default-cache.ts');
      return defaultCache();
    }
    case 'indexeddb': {
      if (typeof indexedDB === 'undefined') {
        throw new TesseraError('invalid-argument', "cache 'indexeddb' needs IndexedDB, which this runtime lacks; use { type: 'fs' } in Node");
      }
      const { createIdbCache } = await import('../cache/idb-cache.ts');
      return createIdbCache(spec.prefix === undefined ? {} : { prefix: spec.prefix });
    }
    case 'fs': {
      const { createFsCache } = await import('../cache/fs-cache.ts');
      return createFsCache(spec.dir === undefined ? {} : { dir: spec.dir });
    }
    case 'memory': {
      const { createMemoryCache } = await import('../cache/memory-cache.ts');
      return createMemoryCache();
    }
    default: {
      const unknown: never = spec;
      throw new TesseraError('invalid-argument', `unknown cache type ${JSON.stringify((unknown as { type: unknown }).type)}; use default, indexeddb, fs or memory`);
    }
  }
}

/**
 * Whether a cache option is plain data (a spec) rather than a ModelCache object.
 *
 * @example
 * isCacheSpec({ type: 'memory' }); // true
 * isCacheSpec(createMemoryCache()); // false
 */
export function isCacheSpec(option: unknown): option is CacheSpec {
  return typeof option === 'object' && option !== null && typeof (option as { type?: unknown }).type === 'string';
}
