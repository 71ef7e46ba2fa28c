/**
 * `Authorization: Bearer <key>` for the inference APIs. Keys come from the
 * secret `TESSERA_API_KEYS` (comma-separated, so keys can be rotated one at a
 * time) or `TESSERA_API_KEY`; an entry may name its scopes after a space
 * (`<key> dashboard`: see lib/api-keys.ts); a bare key is an inference key.
 * With no key set, a random inference key is generated once per isolate and
 * logged, so `wrangler dev` works out of the box while a deployment with no
 * secret stays closed (nobody knows the key).
 *
 * Every key is compared, in constant time over SHA-256 digests, and every
 * failure gets the same 401: no hint whether the key was missing, wrong or
 * lacked the scope.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv, Env } from './env.ts';
import { HttpError } from './http-error.ts';
import { parseApiKeys, type ApiKeyScope } from './lib/api-keys.ts';
import { equalDigests, sha256Digest } from './lib/timing-safe-equal.ts';

let generatedKey: string | undefined;
const reported = new Set<string>();

/**
 * The API keys the Worker accepts for `scope` (default `inference`).
 *
 * @example
 * apiKeysOf({ TESSERA_API_KEYS: 'a, b, c dashboard' } as Env); // ['a', 'b']
 * apiKeysOf({ TESSERA_API_KEYS: 'a, b, c dashboard' } as Env, 'dashboard'); // ['c']
 */
export function apiKeysOf(env: Pick<Env, 'TESSERA_API_KEYS' | 'TESSERA_API_KEY'>, scope: ApiKeyScope = 'inference'): string[] {
  const parsed = parseApiKeys([env.TESSERA_API_KEYS, env.TESSERA_API_KEY]);
  for (const problem of parsed.problems) {
    if (reported.has(problem)) continue;
    reported.add(problem);
    console.warn(problem);
  }
  if (parsed.keys.length > 0) return parsed.keys.filter((k) => k.scopes.has(scope)).map((k) => k.key);
  if (scope !== 'inference') return [];
  if (generatedKey === undefined) {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    generatedKey = `tsk_${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
    console.log(`TESSERA_API_KEY is not set; this isolate accepts the generated key ${generatedKey}`);
  }
  return [generatedKey];
}

/** The bearer token of a request ('' without one). */
export function bearerOf(header: string | undefined): string {
  return /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
}

/**
 * Whether `given` is one of the keys with `scope`, compared with every key in
 * constant time (no early exit: the time taken does not say which key, if
 * any, matched).
 *
 * @example
 * await apiKeyMatches(c.env, bearerOf(c.req.header('Authorization')), 'dashboard');
 */
export async function apiKeyMatches(env: Pick<Env, 'TESSERA_API_KEYS' | 'TESSERA_API_KEY'>, given: string, scope: ApiKeyScope): Promise<boolean> {
  const givenDigest = await sha256Digest(given);
  let ok = false;
  for (const key of apiKeysOf(env, scope)) ok = equalDigests(givenDigest, await keyDigest(key)) || ok;
  return ok;
}

/**
 * @example
 * routes.use('/v1/*', apiKeyAuth());
 */
export function apiKeyAuth(scope: ApiKeyScope = 'inference'): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!(await apiKeyMatches(c.env, bearerOf(c.req.header('Authorization')), scope))) {
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
