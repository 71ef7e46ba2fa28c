/**
 * `/dashboard`: the live dashboard's data. The page itself is a static asset
 * of the Vite build (`dist/dashboard/index.html`, no data in it); everything
 * it shows comes from here, behind the admin token or an API key with the
 * `dashboard` scope (middleware/dashboard-auth.ts).
 *
 * `GET /dashboard/snapshot` is the directory's state now (JSON
 * DirectorySnapshot), for scripts. `GET /dashboard/events` relays the directory object's feed (NDJSON
 * DirectoryFeedEvent lines: a snapshot first, then pool / pool-gone /
 * prewarm changes as the pools push them) as server-sent events, one `data:`
 * line per feed line, unchanged. Nothing is polled: the page's charts move
 * when a pool pushes. A comment every `keepAliveMs` keeps idle proxies from
 * closing the stream and notices a client that left; when the client leaves,
 * the directory's stream is cancelled. When the feed ends or fails, the
 * stream says so (`event: error`) and ends, and the page reconnects (and
 * gets a fresh snapshot): never a silent end.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { DirectorySnapshot } from '../../src/coordinator/pool-summary.ts';
import type { AppEnv, Env } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { dashboardAuth } from '../middleware/dashboard-auth.ts';
import { ndjsonLines } from '../lib/ndjson-lines.ts';

export interface DashboardRouteOptions {
  /** The directory's live feed (NDJSON DirectoryFeedEvent lines, a snapshot first). */
  feed(env: Env): Promise<ReadableStream<Uint8Array>>;
  /** The directory's state now (for `GET /dashboard/snapshot`: scripts, curl). */
  snapshot(env: Env): Promise<DirectorySnapshot>;
  /** Default 15 s. */
  keepAliveMs?: number;
}

/** @example app.route('/', dashboardRoutes({ feed: (env) => directoryOf(env).feed(), snapshot: (env) => directoryOf(env).snapshot() })); */
export function dashboardRoutes(options: DashboardRouteOptions): Hono<AppEnv> {
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const routes = new Hono<AppEnv>();
  routes.use('/dashboard/*', dashboardAuth());

  routes.get('/dashboard/events', async (c) => {
    let feed: ReadableStream<Uint8Array>;
    try {
      feed = await options.feed(c.env);
    } catch (error) {
      throw new HttpError(503, 'unavailable', 'the pool directory did not answer; try again in a few seconds', { cause: error });
    }
    return streamSSE(c, async (sse) => {
      const left = new AbortController();
      sse.onAbort(() => left.abort());
      const lines = ndjsonLines(feed, left.signal);
      const keepAlive = setInterval(() => {
        sse.write(': keep-alive\n\n').catch(() => sse.abort());
      }, keepAliveMs);
      let reason = "the directory's feed ended; reconnect for a fresh snapshot";
      try {
        for await (const line of lines) {
          if (sse.aborted) return;
          await sse.writeSSE({ data: line });
        }
      } catch (error) {
        if (sse.aborted) return;
        console.error('dashboard feed failed', error);
        reason = "the directory's feed failed; reconnect for a fresh snapshot";
      } finally {
        clearInterval(keepAlive);
      }
      if (!sse.aborted) await sse.writeSSE({ event: 'error', data: JSON.stringify({ error: { code: 'unavailable', message: reason } }) });
    });
  });

  routes.get('/dashboard/snapshot', async (c) => {
    let snapshot: DirectorySnapshot;
    try {
      snapshot = await options.snapshot(c.env);
    } catch (error) {
      throw new HttpError(503, 'unavailable', 'the pool directory did not answer; try again in a few seconds', { cause: error });
    }
    return c.json(snapshot, 200, { 'Cache-Control': 'no-store' });
  });

  // Where the built page is not served (the Worker without `--assets dist`),
  // say how to get it rather than a bare 404.
  routes.get('/dashboard', () => {
    throw new HttpError(404, 'not-found', 'the dashboard page is a static asset of the web build: run `npm run build` and serve `dist` with the Worker (`wrangler dev --assets dist`, as `npm start` does)');
  });
  return routes;
}
