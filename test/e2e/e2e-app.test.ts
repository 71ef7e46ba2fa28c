/**
 * The built PWA and embed script in real Chromium (Playwright, system
 * Chromium), served by the real Worker under `wrangler dev` (e2e-app-worker.ts:
 * the app as its static assets, the real `ppocr-v4` pipeline pack and ONNX
 * Runtime's wasm published to its local R2). wasm only, except the device badge.
 *
 * - PWA: load the model, read a rendered image (boxes + text), accessibility
 *   (axe-core: no serious/critical violations), screenshot; then offline:
 *   reload with the network cut, load the model from IndexedDB, read again.
 * - Embed: a page of a second origin embeds embed.js and reads an image.
 * - Tabs: two tabs share one model; the follower's request is answered by the
 *   leader; the leader closes with a request pending and the follower takes
 *   over (loading from cache, zero pack bytes) and answers it.
 * - Serve switch: the tab joins the coordinator and reads an image sent to
 *   the Worker's KServe `:predict` (a tab serving chat: e2e-app-serve-chat.test.ts).
 *
 * Screenshots go to .cache/screenshots/.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { PNG } from 'pngjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDefaultModel } from '../../src/cli/commands/prepare.ts';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts';
import { renderText, type RenderTextOptions } from '../helpers/render-text.ts';
import { countPackBytes, otherOrigin, startAppWorker, type AppWorker, type OtherOrigin } from './e2e-app-worker.ts';
import type { TesseraApi } from '../../src/embed/tessera-api.ts';

/** The embed's global, typed for page.evaluate callbacks. */
const tessera = () => (window as unknown as { tessera: TesseraApi }).tessera;

const ROOT = resolve(import.meta.dirname, '../..');
const DIST = resolve(ROOT, '.cache/e2e-dist');
const WORK = resolve(ROOT, '.cache/e2e-app');
const MODEL = 'ppocr-v4';
const SHOTS = resolve(ROOT, '.cache/screenshots');

let browser: Browser;
let host: AppWorker;
let other: OtherOrigin | undefined;

async function png(options: RenderTextOptions): Promise<Buffer> {
  const image = await renderText(options);
  return PNG.sync.write({ width: image.width, height: image.height, data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length) } as PNG);
}

const LINE = { lines: ['Offline first, edge always'], family: 'DejaVu Sans', size: 32 } satisfies RenderTextOptions;
const PARAGRAPH = {
  lines: ['The quick brown fox jumps', 'over the lazy dog 1234567890', 'Pack my box with five dozen'],
  family: 'Liberation Serif',
  size: 28,
} satisfies RenderTextOptions;

async function appLines(page: Page): Promise<string> {
  await page.locator('#ocr-lines li .text').first().waitFor({ timeout: 60_000 });
  return (await page.locator('#ocr-lines li .text').allTextContents()).join('\n');
}

async function loadModel(page: Page): Promise<string> {
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByRole('button', { name: 'Load model' }).click();
  await page.waitForFunction(() => /is ready on/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 90_000 });
  return (await page.locator('#model-status').textContent()) ?? '';
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  const [{ packDir }] = await Promise.all([
    prepareDefaultModel({ root: resolve(ROOT, '.cache/e2e-tessera') }),
    build({ configFile: resolve(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } }),
  ]);
  host = await startAppWorker({ dist: DIST, packs: { [MODEL]: packDir }, work: WORK });
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await other?.close();
});

describe('PWA', () => {
  it('loads ppocr-v4, reads an image with boxes, passes axe, and works offline after one visit', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const packBytes = countPackBytes(context, host.url, [MODEL]);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // ORT's glue compiles its wasm while it streams in; when that fails it says so on the
    // console ("wasm streaming compile failed ... falling back to ArrayBuffer instantiation")
    // and fetches and compiles the 28 MB again. Its sessions run in the engine's worker.
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    page.on('worker', (w) => w.on('console', (m) => consoleLines.push(m.text())));
    // The app asks for /assets/<name>.wasm; the Worker redirects that to the
    // file in the onnxruntime-web pack (too big for static assets). A redirect
    // hop is not a second fetch, so only the requests the page made are counted.
    const wasmFetches: string[] = [];
    const wasmServedFrom: string[] = [];
    page.on('request', (r) => {
      if (!/ort-wasm[^/]*\.wasm$/.test(new URL(r.url()).pathname)) return;
      if (r.redirectedFrom() === null) wasmFetches.push(r.url());
      else wasmServedFrom.push(new URL(r.url()).pathname);
    });
    await page.goto(`${host.url}/?device=wasm`);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    // The badge reports the WebGPU adapter (SwiftShader here) before any model runs.
    await expect.poll(() => page.locator('#device-badge').textContent(), { timeout: 20_000 }).toMatch(/WebGPU · adapter google/);
    await expect.poll(() => page.locator('#model-select option').allTextContents()).toEqual(['ppocr-v4']);

    const status = await loadModel(page);
    expect(status).toMatch(/ppocr-v4 \([0-9a-f]{8}\) is ready on wasm\. Manifest from network/);
    expect(consoleLines.filter((l) => /streaming compile failed|falling back to ArrayBuffer/.test(l))).toEqual([]);
    expect(wasmFetches).toHaveLength(1);
    expect(wasmServedFrom).toEqual([expect.stringMatching(/^\/models\/onnxruntime-web\/[0-9a-f]+\/assets\/ort-wasm[^/]*\.wasm$/)]);
    expect(await page.locator('#progress-text').textContent()).toMatch(/from network/);
    const sent = await packBytes.total();
    expect(sent).toBeGreaterThan(15_000_000);

    await page.setInputFiles('#file-input', { name: 'line.png', mimeType: 'image/png', buffer: await png(PARAGRAPH) });
    expect(await appLines(page)).toBe(PARAGRAPH.lines.join('\n'));
    await expect.poll(() => page.locator('#ocr-figure svg.boxes polygon').count()).toBe(3);
    expect(await page.locator('#ocr-timings').textContent()).toMatch(/Total\d+ ms on wasm/);
    await expect.poll(() => page.locator('#cache-table tbody tr').count()).toBe(1);
    expect(await page.locator('#cache-table tbody').textContent()).toMatch(/ppocr-v4.*MiB/);
    await page.screenshot({ path: resolve(SHOTS, 'pwa.png'), fullPage: true });

    const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await page.addScriptTag({ content: axeSource });
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
    });
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

    // A second visit, online, under the service worker (which precached the
    // wasm): the model from IndexedDB, ORT's wasm compiled once, while it streams in.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 60_000 });
    await page.reload();
    expect(await loadModel(page)).toMatch(/is ready on wasm\. Manifest from network/);
    expect(await packBytes.total()).toBe(sent);
    expect(wasmFetches).toHaveLength(2);
    expect(consoleLines.filter((l) => /streaming compile|falling back to ArrayBuffer|wasm/i.test(l))).toEqual([]);

    // Offline: the service worker serves the shell, IndexedDB the model.
    await context.setOffline(true);
    await page.reload();
    await expect.poll(() => page.locator('#network-badge').textContent()).toBe('Offline');
    expect(await loadModel(page)).toMatch(/is ready on wasm\. Manifest from cache/);
    expect(await packBytes.total()).toBe(sent);
    await page.setInputFiles('#file-input', { name: 'line.png', mimeType: 'image/png', buffer: await png(LINE) });
    expect(await appLines(page)).toBe(LINE.lines[0]);
    await page.screenshot({ path: resolve(SHOTS, 'pwa-offline.png'), fullPage: true });
    expect(wasmFetches).toHaveLength(3);
    expect(consoleLines.filter((l) => /streaming compile|falling back to ArrayBuffer|wasm/i.test(l))).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 240_000);
});

describe('embed script', () => {
  it('reads an image on a page of another origin', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    other = await otherOrigin({
      '/': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A page on another origin</title>
        <script type="module" src="${host.url}/embed.js"></script></head>
        <body style="font-family: system-ui; margin: 2rem"><h1>Someone's blog</h1><p>Drop a receipt below to read it:</p>
        <tessera-ocr model="${MODEL}" device="wasm" label="Receipt image"></tessera-ocr></body></html>`,
    });
    const page = await context.newPage();
    await page.goto(`${other.url}/`);
    expect(new URL(other.url).origin).not.toBe(new URL(host.url).origin);
    expect(await page.evaluate(() => isSecureContext)).toBe(true);
    expect(await page.evaluate(`(${tessera})().host`)).toBe(`${host.url}/`);
    expect(await page.evaluate(`(${tessera})().models()`)).toEqual(['ppocr-v4']);
    await page.setInputFiles('tessera-ocr input[type=file]', { name: 'receipt.png', mimeType: 'image/png', buffer: await png(LINE) });
    await page.locator('tessera-ocr pre').filter({ hasText: /\S/ }).waitFor({ timeout: 90_000 });
    expect(await page.locator('tessera-ocr pre').textContent()).toBe(LINE.lines[0]);
    expect(await page.locator('tessera-ocr .status').textContent()).toMatch(/on wasm$/);
    await expect.poll(() => page.locator('tessera-ocr svg.boxes polygon').count()).toBe(1);
    const cached = (await page.evaluate(`(${tessera})().cache.list()`)) as { name: string }[];
    expect(cached.map((m) => m.name)).toEqual(['ppocr-v4']);
    await page.screenshot({ path: resolve(SHOTS, 'embed.png'), fullPage: true });
    await context.close();
  }, 150_000);
});

describe('tab sharing', () => {
  it('a follower tab is served by the leader; when the leader closes mid-request the follower takes over and answers', async () => {
    const context = await browser.newContext();
    const packBytes = countPackBytes(context, host.url, [MODEL]);
    const url = `${host.url}/?device=wasm&autoload`;
    const a = await context.newPage();
    await a.goto(url);
    await a.waitForSelector('body[data-ready="true"]');
    await a.waitForFunction(() => /is ready on/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 90_000 });
    const b = await context.newPage();
    await b.goto(url);
    type App = { tesseraApp: { shared: { role: string; tabId: string; recognize(b: Uint8Array): Promise<{ text: string; servedBy: string }> } } };
    const tab = (p: Page) => p.evaluate(() => ({ role: (window as unknown as App).tesseraApp.shared.role, id: (window as unknown as App).tesseraApp.shared.tabId }));
    await expect.poll(async () => (await tab(b)).role, { timeout: 20_000 }).toBe('follower');
    const leader = await tab(a);
    const follower = await tab(b);
    expect(leader.role).toBe('leader');

    const line = [...(await png(LINE))];
    const first = await b.evaluate((bytes) => (window as unknown as App).tesseraApp.shared.recognize(new Uint8Array(bytes)), line);
    expect(first).toMatchObject({ text: LINE.lines[0], servedBy: leader.id });

    const sent = await packBytes.total();
    expect(sent).toBeGreaterThan(15_000_000); // the first leader loaded from the network
    const paragraph = [...(await png(PARAGRAPH))];
    // Freeze the leader's main thread (where its sessions run): it can neither
    // answer nor finish this request before it is closed.
    void a.evaluate(() => {
      const until = Date.now() + 8_000;
      while (Date.now() < until);
    }).catch(() => {});
    await b.evaluate((bytes) => {
      (window as unknown as { pending: Promise<unknown> }).pending = (window as unknown as App).tesseraApp.shared.recognize(new Uint8Array(bytes));
    }, paragraph);
    await a.close({ runBeforeUnload: false });
    const second = (await b.evaluate(() => (window as unknown as { pending: Promise<unknown> }).pending)) as { text: string; servedBy: string };
    expect(second).toMatchObject({ text: PARAGRAPH.lines.join('\n'), servedBy: follower.id });
    expect((await tab(b)).role).toBe('leader');
    expect(await packBytes.total()).toBe(sent); // the new leader loaded from the cache
    await context.close();
  }, 150_000);
});

describe('serve switch', () => {
  it('lends the tab to the coordinator: a KServe :predict through the Worker is read by the tab', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${host.url}/?device=wasm&autoload`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.waitForFunction(() => /is ready on/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 90_000 });
      const toggle = page.getByRole('switch', { name: 'Serve requests' });
      // Without the join token it says what to do, and stays off.
      await toggle.click();
      expect(await page.locator('#serve-status').textContent()).toBe('Enter the join token first (npm start prints it).');
      expect(await toggle.getAttribute('aria-checked')).toBe('false');
      await page.getByLabel('Join token').fill(host.joinToken);
      await toggle.click();
      await expect.poll(() => page.locator('#serve-status').textContent(), { timeout: 30_000 }).toMatch(/^Joined as [0-9a-f-]{8}: 0 requests served\.$/);
      const res = await fetch(`${host.url}/v1/models/${MODEL}:predict`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${host.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ instances: [{ image: (await png(LINE)).toString('base64') }] }),
      });
      const body = (await res.json()) as { predictions?: { text: string }[] };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.predictions?.map((p) => p.text)).toEqual([LINE.lines[0]]);
      await expect.poll(() => page.locator('#serve-status').textContent()).toBe(`Serving ${MODEL}: 1 request served.`);
      await toggle.click();
      await expect.poll(() => page.locator('#serve-status').textContent()).toBe('Off. 1 request served.');
      expect(await toggle.getAttribute('aria-checked')).toBe('false');
    } finally {
      await context.close();
    }
  }, 150_000);
});
