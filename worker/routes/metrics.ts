/**
 * `GET /metrics`: every pool's counters in Prometheus text (API key required),
 * each series labelled by model and pool. Read from the directory (one
 * object), never from the pools: it is as fresh as the pools' last reports
 * (at most about a second behind while requests flow).
 */
import { Hono } from 'hono';
import type { DirectorySnapshot } from '../../src/coordinator/pool-summary.ts';
import { PROMETHEUS_CONTENT_TYPE, renderPoolsPrometheus } from '../../src/coordinator/render-prometheus.ts';
import { apiKeyAuth } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { directoryOf } from '../lib/coordinator-client.ts';

/** @example app.route('/', metricsRoutes()); */
export function metricsRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/metrics', apiKeyAuth());
  routes.get('/metrics', async (c) => c.body(metricsOf((await directoryOf(c.env).snapshot()) as DirectorySnapshot), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' }));
  return routes;
}

/**
 * The directory's pools as one exposition; a session in several pools counts once in `tessera_sessions`.
 *
 * @example metricsOf(await directoryOf(env).snapshot());
 */
export function metricsOf(snapshot: DirectorySnapshot): string {
  const sessions = new Set(snapshot.pools.flatMap((p) => p.sessions.map((s) => s.id)));
  return renderPoolsPrometheus({ sessions: sessions.size, pools: snapshot.pools.map((p) => ({ pool: p.pool, metrics: p.metrics })) });
}
