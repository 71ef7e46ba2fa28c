/**
 * The harness the browser benchmarks share: a production build of one
 * bench/pages entry served by `vite preview`, and headless Chromium in a fresh
 * persistent profile (its own IndexedDB and Cache Storage) per run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { build, preview } from 'vite';
import { CHROMIUM_ARGS, findChromium } from '../../test/helpers/chromium.ts';

/**
 * Builds `bench/pages/<entry>.html` into distDir and serves it on 127.0.0.1.
 * A production build, as users ship it: a dev server's unbundled modules would
 * add hundreds of requests to every worker start and measure Vite, not Tessera.
 *
 * @example
 * const site = await serveBenchPage('load', '.cache/bench/load/dist');
 * // site.pageUrl: http://127.0.0.1:<port>/load.html
 * await site.close();
 */
export async function serveBenchPage(entry: string, distDir: string): Promise<{ pageUrl: string; close(): Promise<void> }> {
  const root = resolve('bench/pages');
  await build({
    configFile: false,
    root,
    logLevel: 'error',
    build: { outDir: distDir, emptyOutDir: true, rollupOptions: { input: join(root, `${entry}.html`) } },
    worker: { format: 'es' },
  });
  const server = await preview({ configFile: false, root, logLevel: 'error', build: { outDir: distDir }, preview: { port: 0, host: '127.0.0.1' } });
  return { pageUrl: `${server.resolvedUrls!.local[0]!.replace(/\/$/, '')}/${entry}.html`, close: () => server.close() };
}

export interface BenchBrowser {
  page: Page;
  /** The profile folder: names the browser process on its command line. */
  profile: string;
  /** (Re)loads the bench page and waits for its `#status` to read `ready`. */
  open(): Promise<void>;
  /** Closes the browser and deletes the profile. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium in a fresh profile with page errors and console
 * errors on stderr (except those `quiet` matches).
 *
 * @example
 * const browser = await launchBenchBrowser(site.pageUrl);
 * try { await browser.open(); } finally { await browser.close(); }
 */
export async function launchBenchBrowser(pageUrl: string, quiet: (text: string) => boolean = () => false): Promise<BenchBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(600_000);
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !quiet(msg.text())) console.error(`page console: ${msg.text()}`);
  });
  return {
    page,
    profile,
    open: async () => {
      await page.goto(pageUrl);
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', undefined, { timeout: 60_000 });
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
