/**
 * Model pack sizes for prewarming: a pack's `totalBytes` from its R2
 * manifest (`models/<name>/revisions/<rev>.json`), the cheapest correct
 * source: one read per model and revision (revision manifests are
 * immutable), no trust in what a session says about a model it has not
 * loaded, and it is what the asked session will actually fetch. A model
 * whose manifest cannot be read is not looked up again for a while.
 */
import type { ModelSize } from '../../src/coordinator/prewarm-policy.ts';
import { TesseraError } from '../../src/errors.ts';
import { ManifestStore } from './manifest-store.ts';

/** A model whose manifest could not be read is not looked up again for this long. */
const SIZE_RETRY_MS = 30_000;

export class PrewarmSizes {
  /** Known sizes by model (the policy's input). */
  readonly known = new Map<string, ModelSize>();
  /** Model -> when a failed lookup may be tried again; Infinity while one is in flight. */
  readonly #retryAt = new Map<string, number>();
  readonly #bucket: R2Bucket | undefined;

  /** @example const sizes = new PrewarmSizes(env.PACKS); */
  constructor(bucket: R2Bucket | undefined) {
    this.#bucket = bucket;
  }

  /**
   * Starts reading the size of `model` at `revision` (its current one when
   * absent); resolves true once it is known (call the policy again then),
   * false when it cannot be read now or a lookup is already under way.
   *
   * @example
   * if (await sizes.lookUp('mlp', 'abc123', Date.now())) await decide();
   */
  async lookUp(model: string, revision: string | undefined, now: number): Promise<boolean> {
    const retry = this.#retryAt.get(model);
    if ((retry !== undefined && retry > now) || !this.#bucket) return false;
    this.#retryAt.set(model, Infinity);
    const store = new ManifestStore(this.#bucket);
    try {
      const rev = revision ?? (await store.current(model));
      const manifest = rev === null ? null : await store.revision(model, rev);
      if (!manifest) throw new TesseraError('not-found', `model "${model}"${revision ? ` revision ${revision}` : ''} is not published`);
      this.known.set(model, { revision: manifest.revision, bytes: manifest.totalBytes });
      this.#retryAt.delete(model);
      return true;
    } catch (err) {
      this.#retryAt.set(model, Date.now() + SIZE_RETRY_MS);
      console.error(`prewarm: cannot size ${model}`, err);
      return false;
    }
  }
}
