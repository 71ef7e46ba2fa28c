/**
 * `Authorization: Bearer <key>` for the inference APIs. Keys come from the
 * secret `TESSERA_API_KEYS` (comma-separated, so keys can be rotated one at a
 * time) or `TESSERA_API_KEY`. With neither set, a random key is generated once
 * per isolate and logged, so `wrangler dev` works out of the box while a
 * deployment with no secret stays closed (nobody knows the key).
 *
 * Every key is compared, in constant time over SHA-256 digests, and every
 * failure gets the same 401: no hint whether the key was missing or wrong.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv, Env } from './env.ts';
import { HttpError } from './http-error.ts';
import { equalDigests, sha256Digest } from './lib/timing-safe-equal.ts';

let generatedKey: string | undefined;

/**
 * The API keys the Worker accepts.
 *
 * @example
 * apiKeysOf({ TESSERA_API_KEYS: 'a, b' } as Env); // ['a', 'b']
 */
export function apiKeysOf(env: Pick<Env, 'TESSERA_API_KEYS' | 'TESSERA_API_KEY'>): string[] {
  const keys = [...(env.TESSERA_API_KEYS ?? '').split(','), env.TESSERA_API_KEY ?? '']
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (keys.length > 0) return keys;
  if (generatedKey === undefined) {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    generatedKey = `tsk_${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
    console.log(`TESSERA_API_KEY is not set; this isolate accepts the generated key ${generatedKey}`);
  }
  return [generatedKey];
}

/**
 * @example
 * routes.use('/v1/*', apiKeyAuth());
 */
export function apiKeyAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = /^Bearer (.+)$/.exec(c.req.header('Authorization') ?? '')?.[1] ?? '';
    const givenDigest = await sha256Digest(given);
    let ok = false;
    // No early exit: the time taken does not say which key (if any) matched.
    for (const key of apiKeysOf(c.env)) ok = equalDigests(givenDigest, await keyDigest(key)) || ok;
    if (!ok) {
      throw new HttpError(401, 'unauthorized', 'a valid API key is required (Authorization: Bearer <key>)', {
        headers: { 'WWW-Authenticate': 'Bearer realm="tessera"' },
      });
    }
    await next();
  };
}

// The configured keys' digests, once per isolate: hashing them again on every
// request cost about a millisecond under load (measured with bench:coordinator).
const keyDigests = new Map<string, Promise<Uint8Array>>();

function keyDigest(key: string): Promise<Uint8Array> {
  let digest = keyDigests.get(key);
  if (digest === undefined) {
    digest = sha256Digest(key);
    keyDigests.set(key, digest);
  }
  return digest;
}
