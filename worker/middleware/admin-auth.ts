/**
 * `Authorization: Bearer <TESSERA_ADMIN_TOKEN>` for publishing routes. The
 * comparison is constant-time over SHA-256 digests (equal length whatever the
 * input, so neither the content nor the length of the token leaks), and every
 * failure gets the same 401 body: no hint whether the token was missing, wrong
 * or unset on the server.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';

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

/**
 * Constant-time string equality (digests first, so lengths never differ).
 *
 * @example
 * await timingSafeEqualText('a', 'a'); // true
 */
export async function timingSafeEqualText(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest('SHA-256', enc.encode(a)),
    crypto.subtle.digest('SHA-256', enc.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
