/**
 * Reads and writes manifests in R2 (layout in keys.ts). Revision manifests are
 * immutable (their id is derived from their content), so a small per-isolate
 * cache saves one R2 round trip on every file request without ever going stale.
 * `current` is mutable and always read from R2.
 */
import type { PackManifest } from '../../src/pack/manifest.ts';
import { currentKey, revisionKey } from './keys.ts';

export class ManifestStore {
  readonly #bucket: R2Bucket;
  readonly #cache: Map<string, PackManifest>;
  readonly #cacheSize: number;

  /**
   * @example
   * const store = new ManifestStore(env.PACKS, manifestCache);
   * const rev = await store.current('mlp');
   */
  constructor(bucket: R2Bucket, cache: Map<string, PackManifest> = new Map(), cacheSize = 64) {
    this.#bucket = bucket;
    this.#cache = cache;
    this.#cacheSize = cacheSize;
  }

  /** The current revision id, or null when the model was never published. */
  async current(name: string): Promise<string | null> {
    const object = await this.#bucket.get(currentKey(name));
    return object === null ? null : (await object.text()).trim();
  }

  /** A revision's manifest, or null when that revision does not exist. */
  async revision(name: string, revision: string): Promise<PackManifest | null> {
    const key = revisionKey(name, revision);
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const object = await this.#bucket.get(key);
    if (object === null) return null;
    const manifest = (await object.json()) as PackManifest;
    if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, manifest);
    return manifest;
  }

  /**
   * Writes the revision manifest, then switches `current` to it. The order is
   * the point: a reader that sees the new `current` always finds its manifest
   * (and, because the caller checked first, every blob it names).
   */
  async publish(manifest: PackManifest): Promise<void> {
    await this.#bucket.put(revisionKey(manifest.name, manifest.revision), JSON.stringify(manifest), {
      httpMetadata: { contentType: 'application/json' },
    });
    await this.#bucket.put(currentKey(manifest.name), manifest.revision, {
      httpMetadata: { contentType: 'text/plain' },
    });
  }
}
