/** Bindings the Worker gets from wrangler.jsonc (vars, R2) and its secrets. */
export interface Env {
  /** Packs: `blobs/<sha256>` and `models/<name>/...` (see worker/README.md). */
  PACKS: R2Bucket;
  /** Secret; admin (publish) routes answer 401 to everyone while it is unset. */
  TESSERA_ADMIN_TOKEN?: string;
  /** Decimal byte count; the largest blob one PUT may carry. */
  TESSERA_MAX_UPLOAD_BYTES?: string;
}

/** Hono's environment type for this app. */
export interface AppEnv {
  Bindings: Env;
}
