/**
 * `Authorization: Bearer <TESSERA_ADMIN_TOKEN>` for publishing routes. The
 * comparison is constant-time over SHA-256 digests (lib/timing-safe-equal.ts) (equal length whatever the
 * input, so neither the content nor the length of the token leaks), and every
 * failure gets the same 401 body: no hint whether the token was missing, wrong
 * or unset on the server.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { timingSafeEqualText } from '../lib/timing-safe-equal.ts';

/**
 * @example
 * app.use('/admin/*', adminAuth());
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const expected = c.env.TESSERA_ADMIN_TOKEN;
    const header = c.req.header('Authorization') ?? '';
    const given = /^Bearer (.+)$/.exec(header)?.[1] ?? '';
    // An unset or empty secret must never match an empty token.
    const ok = expected !== undefined && expected !== '' && (await timingSafeEqualText(given, expected));
    if (!ok) {
      throw new HttpError(401, 'unauthorized', 'a valid admin token is required', {
        headers: { 'WWW-Authenticate': 'Bearer realm="tessera-admin"' },
      });
    }
    await next();
  };
}
