/**
 * Response headers shared by every route: CORS (packs are fetched from any
 * origin, with Range), `Cross-Origin-Resource-Policy: cross-origin` (so a
 * cross-origin-isolated page, COEP require-corp, may still load our files),
 * and COOP/COEP for the HTML routes that should themselves be isolated
 * (SharedArrayBuffer -> multi-threaded wasm).
 */
import { cors } from 'hono/cors';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';

/**
 * @example
 * app.use('*', packCors());
 */
export function packCors(): MiddlewareHandler<AppEnv> {
  return cors({
    origin: '*',
    allowMethods: ['GET', 'HEAD', 'PUT', 'POST', 'OPTIONS'],
    allowHeaders: ['Range', 'If-Range', 'If-None-Match', 'Authorization', 'Content-Type'],
    exposeHeaders: ['ETag', 'Content-Range', 'Content-Length', 'Accept-Ranges', 'Content-Location'],
    maxAge: 86400,
  });
}

/** @example app.use('*', crossOriginResource()); */
export function crossOriginResource(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    c.res.headers.set('Cross-Origin-Resource-Policy', 'cross-origin');
  };
}

/** @example app.use('/', crossOriginIsolated()); */
export function crossOriginIsolated(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    c.res.headers.set('Cross-Origin-Opener-Policy', 'same-origin');
    c.res.headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  };
}
