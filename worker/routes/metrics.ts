/** `GET /metrics`: the coordinator's counters in Prometheus text (API key required). */
import { Hono } from 'hono';
import { PROMETHEUS_CONTENT_TYPE } from '../../src/coordinator/render-prometheus.ts';
import { apiKeyAuth } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { coordinatorOf } from '../lib/coordinator-client.ts';

/** @example app.route('/', metricsRoutes()); */
export function metricsRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/metrics', apiKeyAuth());
  routes.get('/metrics', async (c) =>
    c.body(await coordinatorOf(c.env).metricsText(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' }),
  );
  return routes;
}
