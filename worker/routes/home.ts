/**
 * The Worker's HTML entry. It is served cross-origin isolated (COOP/COEP) so
 * that app pages mounted here later get SharedArrayBuffer and threaded wasm.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { crossOriginIsolated } from '../middleware/headers.ts';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tessera</title></head>
<body><h1>Tessera</h1><p>Model packs are served at <code>/models/&lt;name&gt;/manifest.json</code>.</p></body></html>`;

/** @example app.route('/', homeRoutes()); */
export function homeRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/', crossOriginIsolated());
  routes.get('/', (c) => c.html(PAGE, 200, { 'Cache-Control': 'no-cache' }));
  return routes;
}
