import type { CoordinatorObject } from './coordinator-do.ts';
import type { DirectoryObject } from './directory-do.ts';

/** Bindings the Worker gets from wrangler.jsonc (vars, R2) and its secrets. */
export interface Env {
  /** Packs: `blobs/<sha256>` and `models/<name>/...` (see worker/README.md). */
  PACKS: R2Bucket;
  /** Secret; admin (publish) routes answer 401 to everyone while it is unset. */
  TESSERA_ADMIN_TOKEN?: string;
  /** Decimal byte count; the largest blob one PUT may carry. */
  TESSERA_MAX_UPLOAD_BYTES?: string;
  /** The coordinator pools: one Durable Object per model, `idFromName('pool:' + model)` (worker/coordinator-do.ts). */
  COORDINATOR: DurableObjectNamespace<CoordinatorObject>;
  /** The directory: one object, `idFromName('directory')`, holding every pool's latest summary (worker/directory-do.ts). */
  DIRECTORY: DurableObjectNamespace<DirectoryObject>;
  /**
   * JSON object from model name to a Durable Objects location hint
   * (`{"llama": "weur"}`): where that model's pool is created. Checked on use;
   * a bad value answers 500 naming the entry.
   */
  TESSERA_POOL_LOCATIONS?: string;
  /** Secret; the token sessions send in their `join` message. Joins are refused while it is unset. */
  TESSERA_JOIN_TOKEN?: string;
  /** Secret; comma-separated API keys for the inference routes (`Authorization: Bearer <key>`). */
  TESSERA_API_KEYS?: string;
  /** Secret; one API key (local development). Neither set: a key is generated per isolate and logged. */
  TESSERA_API_KEY?: string;
  /** JSON of Partial<CoordinatorConfig> (maxBatch, queueLimit, policy, ...). */
  TESSERA_COORDINATOR_CONFIG?: string;
  /**
   * JSON of Partial<PrewarmConfig> (src/coordinator/prewarm-config.ts): the
   * prewarming thresholds. Malformed, prewarming is off and standby sockets are
   * refused with the reason; the rest of the directory keeps working.
   */
  TESSERA_PREWARM_CONFIG?: string;
}

/** Hono's environment type for this app. */
export interface AppEnv {
  Bindings: Env;
}
