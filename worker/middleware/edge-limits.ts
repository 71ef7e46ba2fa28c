/**
 * Request-line and header limits, answered as JSON like every other Worker
 * error. workerd itself (under `wrangler dev`, and Cloudflare's edge in
 * production) refuses larger requests before the Worker runs, with a
 * plain-text answer the Worker cannot change: under wrangler dev 4.164 a URL
 * over ~64 KiB gets `414 URI too long` and a header block over ~500 KiB gets
 * `431 message head is too large` (text/plain). Below those, these limits
 * make the answer a JSON `{ error: { code, message } }`: no API here needs
 * anything near them.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { errorResponse } from '../http-error.ts';

/** Longest URL the Worker serves (Cloudflare's own limit is 16 KB). */
export const MAX_URL_BYTES = 16 * 1024;
/** Largest header block (names + values) the Worker serves. */
export const MAX_HEADER_BYTES = 64 * 1024;

/** @example app.use('*', edgeLimits()); */
export function edgeLimits(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = c.req.url;
    if (url.length > MAX_URL_BYTES) {
      return errorResponse(414, 'bad-request', `the URL is ${url.length} bytes; at most ${MAX_URL_BYTES}`, { limitBytes: MAX_URL_BYTES });
    }
    let bytes = 0;
    c.req.raw.headers.forEach((value, name) => {
      bytes += name.length + value.length + 4;
    });
    if (bytes > MAX_HEADER_BYTES) {
      return errorResponse(431, 'bad-request', `the request headers are ${bytes} bytes; at most ${MAX_HEADER_BYTES}`, { limitBytes: MAX_HEADER_BYTES });
    }
    await next();
  };
}
