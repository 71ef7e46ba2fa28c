/**
 * The real Worker for the browser end-to-end tests: `wrangler dev` (workerd,
 * local R2, the coordinator Durable Object) serving the built app (dist) as
 * its static assets, with the given packs published to its local R2 by
 * `publishDir` and ONNX Runtime's wasm published as the `onnxruntime-web`
 * pack, exactly as `npm start` does. Nothing here answers a request in the
 * Worker's place.
 *
 * Pack bytes are counted where they arrive: in the browser, from the sizes
 * of the responses to `/models/<name>/<revision>/<file>` (so a test can assert
 * that a load came from the cache). A page of a second origin (someone's
 * blog embedding embed.js) is a plain page server on `http://localhost:<port>`,
 * a secure context of another origin than the Worker's `http://127.0.0.1:<port>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { packRuntimeAssets, RUNTIME_PACK } from '../../scripts/lib/runtime-pack.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

export interface AppWorker {
  /** `http://127.0.0.1:<port>`: the Worker, the app and embed.js. */
  url: string;
  /** The tokens the Worker was started with (TESSERA_JOIN_TOKEN, TESSERA_API_KEYS). */
  joinToken: string;
  apiKey: string;
  dev: WranglerDev;
  stop(): Promise<void>;
}

export interface AppWorkerOptions {
  /** The built app (`vite build` output). */
  dist: string;
  /** Pack folders by model name, published before the app is opened. */
  packs: Record<string, string>;
  /** Where the runtime pack is written (reused while the wasm files are unchanged). */
  work: string;
  /** More Worker bindings (e.g. TESSERA_COORDINATOR_CONFIG). */
  vars?: Record<string, string>;
}

/**
 * @example
 * const worker = await startAppWorker({ dist, packs: { 'ppocr-v4': packDir }, work: '.cache/e2e-app' });
 * await page.goto(`${worker.url}/?device=wasm`);
 * await worker.stop();
 */
export async function startAppWorker(options: AppWorkerOptions): Promise<AppWorker> {
  const admin = 'e2e-app-admin';
  const joinToken = 'e2e-app-join';
  const apiKey = 'e2e-app-key';
  const dev = await startWranglerDev({
    assets: options.dist,
    vars: { TESSERA_ADMIN_TOKEN: admin, TESSERA_JOIN_TOKEN: joinToken, TESSERA_API_KEYS: apiKey, ...options.vars },
    timeoutMs: 90_000,
  });
  try {
    for (const dir of Object.values(options.packs)) await publishDir(dir, { baseUrl: dev.base, token: admin });
    const runtime = await packRuntimeAssets(options.dist, join(options.work, 'packs', RUNTIME_PACK));
    if (!runtime) throw new Error(`${options.dist} holds no .wasm files: is it a \`vite build\` of the app?`);
    await publishDir(runtime.packDir, { baseUrl: dev.base, token: admin });
  } catch (error) {
    await dev.stop();
    throw new Error(`publishing to wrangler dev failed: ${(error as Error).message}\n${dev.log()}`, { cause: error });
  }
  return { url: dev.base, joinToken, apiKey, dev, stop: () => dev.stop() };
}

/** Bytes of pack files (not manifests) that reached a browser context from the network. */
export interface PackBytes {
  /** Waits for the sizes of every response seen so far, and sums them. */
  total(): Promise<number>;
}

/**
 * Counts, in the browser, the body bytes of responses to the named packs'
 * files (`/models/<name>/<revision>/<path>`), from pages and their workers.
 *
 * @example
 * const packBytes = countPackBytes(context, worker.url, ['ppocr-v4']);
 * expect(await packBytes.total()).toBeGreaterThan(15_000_000);
 */
export function countPackBytes(context: BrowserContext, origin: string, names: string[]): PackBytes {
  const sizes: Promise<number>[] = [];
  context.on('requestfinished', (request) => {
    const url = new URL(request.url());
    const [, models, name, revision, ...path] = url.pathname.split('/');
    if (url.origin !== origin || models !== 'models' || !names.includes(name ?? '') || revision === undefined || path.length === 0) return;
    if (path.join('/') === 'manifest.json') return;
    // A page that closed takes its requests' sizes with it: what it received was received.
    sizes.push(request.sizes().then((s) => s.responseBodySize, () => 0));
  });
  return { total: async () => (await Promise.all(sizes)).reduce((a, b) => a + b, 0) };
}

/** A page server of another origin. */
export interface OtherOrigin {
  /** `http://localhost:<port>` */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the given HTML pages (each a string, or its HTML with response
 * headers) on `http://localhost:<free port>`: someone's
 * blog that embeds embed.js, of another origin than the Worker's
 * `http://127.0.0.1:<port>`. A real loopback server, not a Playwright route:
 * Chromium's local-network-access check blocks a routed (addressless) page
 * from loading scripts off a loopback address.
 *
 * @example
 * const blog = await otherOrigin({ '/': '<script type="module" src="http://127.0.0.1:8787/embed.js"></script>' });
 * await page.goto(`${blog.url}/`);
 * await blog.close();
 */
export async function otherOrigin(pages: Record<string, string | { html: string; headers: Record<string, string> }>): Promise<OtherOrigin> {
  const server = createServer((req, res) => {
    const page = pages[new URL(req.url ?? '/', 'http://x').pathname];
    // A page may bring its own headers, e.g. a Content-Security-Policy.
    const { html, headers } = typeof page === 'string' ? { html: page, headers: {} } : (page ?? { html: undefined, headers: {} });
    res.writeHead(html === undefined ? 404 : 200, { 'Content-Type': 'text/html; charset=utf-8', ...headers });
    res.end(html ?? 'not here');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}
