/**
 * The engine load options a page passes for a model it resolved itself,
 * whichever engine runs it: the same for the OCR pipeline and generators.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import type { Engine, LoadOptions } from '../engine/engine.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { DeviceRequest } from '../protocol/device.ts';

export interface PageLoadInput {
  cache: ModelCache;
  /** Where the files live: the revision's manifest URL that resolveManifest returned. */
  baseUrl: string;
  device?: DeviceRequest;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
}

/**
 * @example
 * await engine.loadPipeline('ocr', manifest, pageLoadOptions(engine, { cache, baseUrl }));
 */
export function pageLoadOptions(engine: Engine, input: PageLoadInput): LoadOptions {
  return {
    // A cache object cannot cross into the worker; the worker opens the same
    // IndexedDB store (same origin) from the spec.
    cache: engine.transport === 'worker' ? { type: 'default' } : input.cache,
    baseUrl: input.baseUrl,
    device: input.device ?? 'auto',
    // A caller's fetch (a function) cannot cross into the worker either.
    ...(input.fetch && engine.transport === 'in-process' ? { fetch: input.fetch } : {}),
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
  };
}
