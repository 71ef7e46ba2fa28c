/**
 * `Authorization: Bearer <TESSERA_ADMIN_TOKEN>` for publishing routes. The
 * comparison is constant-time over SHA-256 digests (lib/timing-safe-equal.ts) (equal length whatever the
 * input, so neither the content nor the length of the token leaks), and every
 * failure gets the same 401 body: no hint whether the token was missing, wrong
 * or unset on the server.
 */
import type { MiddlewareHandler } from 'hono';
import { bearerOf } from '../auth.ts';
import type { AppEnv, Env } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { timingSafeEqualText } from '../lib/timing-safe-equal.ts';

/**
 * Whether `given` is the admin token: the one check behind every route the
 * admin token opens (adminAuth, and dashboardAuth beside the dashboard keys).
 * The comparison always runs, even with no secret set, so its time does not
 * say whether there is one; an unset or empty secret never matches, not
 * even an empty token.
 *
 * @example
 * await adminTokenMatches({ TESSERA_ADMIN_TOKEN: 'secret' }, 'secret'); // true
 * await adminTokenMatches({}, ''); // false
 */
export async function adminTokenMatches(env: Pick<Env, 'TESSERA_ADMIN_TOKEN'>, given: string): Promise<boolean> {
  const expected = env.TESSERA_ADMIN_TOKEN ?? '';
  const same = await timingSafeEqualText(given, expected);
  return same && expected !== '';
}

/**
 * @example
 * app.use('/admin/*', adminAuth());
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!(await adminTokenMatches(c.env, bearerOf(c.req.header('Authorization'))))) {
      throw new HttpError(401, 'unauthorized', 'a valid admin token is required', {
        headers: { 'WWW-Authenticate': 'Bearer realm="tessera-admin"' },
      });
    }
    await next();
  };
}
