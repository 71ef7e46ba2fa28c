/**
 * `/dashboard`'s data routes take either the admin token
 * (`TESSERA_ADMIN_TOKEN`) or an API key with the `dashboard` scope
 * (lib/api-keys.ts): an operator can hand out a key that watches the pools
 * but can neither publish nor run inference.
 *
 * Both comparisons always run (constant time over SHA-256 digests, no
 * short-circuit), so the time taken does not say which kind of secret was
 * tried, and every failure gets the same 401 body.
 */
import type { MiddlewareHandler } from 'hono';
import { apiKeyMatches, bearerOf } from '../auth.ts';
import type { AppEnv, Env } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { adminTokenMatches } from './admin-auth.ts';

/**
 * Whether `given` opens the dashboard.
 *
 * @example
 * await dashboardTokenMatches(env, 'tsk_ops'); // true for `TESSERA_API_KEYS="tsk_ops dashboard"`
 */
export async function dashboardTokenMatches(env: Pick<Env, 'TESSERA_ADMIN_TOKEN' | 'TESSERA_API_KEYS' | 'TESSERA_API_KEY'>, given: string): Promise<boolean> {
  const [admin, key] = await Promise.all([adminTokenMatches(env, given), apiKeyMatches(env, given, 'dashboard')]);
  return admin || key;
}

/** @example routes.use('/dashboard/*', dashboardAuth()); */
export function dashboardAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!(await dashboardTokenMatches(c.env, bearerOf(c.req.header('Authorization'))))) {
      throw new HttpError(401, 'unauthorized', 'the admin token or an API key with the dashboard scope is required (Authorization: Bearer <token>)', {
        headers: { 'WWW-Authenticate': 'Bearer realm="tessera-dashboard"' },
      });
    }
    await next();
  };
}
