/**
 * Assembles the Worker: shared middleware, then one route module per concern.
 * The coordinator Durable Object and the inference APIs (KServe v1, OIP v2,
 * OpenAI) plug in here as further `app.route('/', ...)` modules.
 */
import { Hono } from 'hono';
import type { PackManifest } from '../src/pack/manifest.ts';
import type { DirectorySnapshot } from '../src/coordinator/pool-summary.ts';
import { statusOf, toErrorData } from '../src/errors.ts';
import type { AppEnv } from './env.ts';
import { HttpError, errorResponse } from './http-error.ts';
import { crossOriginResource, packCors } from './middleware/headers.ts';
import { edgeLimits } from './middleware/edge-limits.ts';
import { modelRoutes } from './routes/models.ts';
import { adminRoutes } from './routes/admin.ts';
import { homeRoutes } from './routes/home.ts';
import { catalogueRoutes } from './routes/catalogue.ts';
import { runtimeAssetRoutes } from './routes/runtime-assets.ts';
import { kserveRoutes } from './routes/kserve.ts';
import { oipRoutes } from './routes/oip.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openaiRoutes } from './routes/openai.ts';
import { completionRoutes } from './routes/completions.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { createModelDirectory, directoryOf } from './lib/coordinator-client.ts';
import { createSaturationHints } from './lib/saturation-hint.ts';

/**
 * @example
 * export default createApp(); // worker/index.ts
 */
export function createApp(): Hono<AppEnv> {
  // One cache per app (per isolate): revision manifests are immutable.
  const manifestCache = new Map<string, PackManifest>();
  const app = new Hono<AppEnv>();
  app.use('*', crossOriginResource());
  app.use('*', packCors());
  app.use('*', edgeLimits());
  app.route('/', homeRoutes());
  app.route('/', catalogueRoutes());
  app.route('/', modelRoutes({ manifestCache }));
  app.route('/', runtimeAssetRoutes({ manifestCache }));
  app.route('/', adminRoutes({ manifestCache }));
  const directory = createModelDirectory();
  // One per isolate, shared by every inference API: a pool's 429 seen on one
  // route refuses that model's next requests on all of them, before their bodies are read.
  const saturation = createSaturationHints();
  app.route('/', sessionRoutes());
  app.route('/', kserveRoutes(directory, saturation));
  app.route('/', oipRoutes(directory, saturation));
  app.route('/', openaiRoutes(directory, saturation));
  app.route('/', completionRoutes(directory, saturation));
  app.route('/', metricsRoutes());
  app.route('/', dashboardRoutes({ feed: async (env) => (await directoryOf(env).feed()) as ReadableStream<Uint8Array>, snapshot: async (env) => (await directoryOf(env).snapshot()) as DirectorySnapshot }));

  app.notFound((c) => errorResponse(404, 'not-found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((error, c) => {
    if (error instanceof HttpError) return error.getResponse();
    // A TesseraError from shared code (a manifest check, a parser) answers
    // with its code's status; anything else is our bug: log it whole, answer
    // with its code but no stack.
    const data = toErrorData(error);
    const status = statusOf(data.code);
    if (status >= 500) console.error(`${c.req.method} ${c.req.url}`, error);
    return errorResponse(status, data.code, data.message, data.details);
  });
  return app;
}
