/**
 * A browser tab prewarmed on request, end to end: the built PWA served by
 * the real Worker (`wrangler dev --assets`) in real Chromium (wasm). Two OCR
 * packs are published: `ppocr-v4` and the same weights as `ppocr-b`. A Node
 * session serves `ppocr-b`; the tab switches "Serve requests" on for
 * `ppocr-v4` with the separate consent given, so it also offers to load the
 * catalogue's other OCR model. A burst of predicts on `ppocr-b` makes the
 * directory ask the tab, which loads `ppocr-b` through the page's loader,
 * joins its pool marked prewarmed and answers part of the burst. First, the
 * consent itself: off by default, remembered, accessible (axe-core: no
 * serious or critical violations in the serve card).
 */
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDefaultModel } from '../../src/cli/commands/prepare.ts';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { serve, type ServeSession } from '../../src/cli/commands/serve.ts';
import { packModel } from '../../src/pack/pack-model.ts';
import { packRuntimeAssets } from '../../scripts/lib/runtime-pack.ts';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts';
import { renderText } from '../helpers/render-text.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { PNG } from 'pngjs';

const ROOT = resolve(import.meta.dirname, '../..');
const DIST = resolve(ROOT, '.cache/e2e-dist-prewarm-tab');
const JOIN = 'prewarm-tab-join';
const KEY = 'prewarm-tab-key';
const ADMIN = 'prewarm-tab-admin';
const PREWARM_CONFIG = { sustainMs: 1_000, loadQueueWaitMs: 100, unloadQueueWaitMs: 5, askTimeoutMs: 120_000 };

let work: string;
let dev: WranglerDev;
let browser: Browser;
let session: ServeSession | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tessera-prewarm-tab-'));
  const [{ packDir }] = await Promise.all([
    prepareDefaultModel({ root: resolve(ROOT, '.cache/e2e-tessera') }),
    build({ configFile: resolve(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } }),
  ]);
  // The same pipeline under a second name: pack the pack's files (all but its manifest) again.
  const stage = join(work, 'ppocr-b-src');
  await mkdir(stage, { recursive: true });
  await cp(packDir, stage, { recursive: true, filter: (src) => !src.endsWith('manifest.json') });
  await packModel(stage, { out: join(work, 'ppocr-b'), name: 'ppocr-b', externalize: false });
  dev = await startWranglerDev({
    assets: DIST, cwd: ROOT,
    vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_ADMIN_TOKEN: ADMIN, TESSERA_API_KEYS: KEY, TESSERA_PREWARM_CONFIG: JSON.stringify(PREWARM_CONFIG) },
  });
  // ONNX Runtime Web's wasm comes from R2 as the runtime pack, as under npm start (worker/routes/runtime-assets.ts).
  const runtime = await packRuntimeAssets(DIST, join(work, 'runtime'));
  if (runtime) await publishDir(runtime.packDir, { baseUrl: dev.base, token: ADMIN });
  await publishDir(packDir, { baseUrl: dev.base, token: ADMIN });
  await publishDir(join(work, 'ppocr-b'), { baseUrl: dev.base, token: ADMIN });
  session = await serve({ coordinator: dev.base, models: ['ppocr-b'], joinToken: JOIN, device: 'cpu', threads: 1, cache: { type: 'fs', dir: join(work, 'cache') } });
  await session.joined();
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await session?.close().catch(() => undefined);
  await dev?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the prewarm consent', () => {
  it('is off by default, separate from serving, remembered with its budget, and passes axe', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dev.base);
    await page.waitForSelector('body[data-ready="true"]');
    const consent = page.getByRole('checkbox', { name: 'Let the coordinator load models for me while serving' });
    const budget = page.getByLabel('Up to (MB)');
    expect(await consent.isChecked()).toBe(false);
    expect(await budget.inputValue()).toBe('256');
    expect(await page.locator('#prewarm-status').textContent()).toBe('The coordinator loads nothing here on its own.');
    await consent.check();
    await budget.fill('512');
    await budget.dispatchEvent('change');
    expect(await page.locator('#prewarm-status').textContent()).toMatch(/may load up to 512 MB of models here while serving/);
    // Consent does not switch serving on.
    expect(await page.getByRole('switch', { name: 'Serve requests' }).getAttribute('aria-checked')).toBe('false');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await consent.isChecked()).toBe(true);
    expect(await budget.inputValue()).toBe('512');
    const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await page.addScriptTag({ content: axeSource });
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(context: string): Promise<{ violations: { id: string; impact: string }[] }> } }).axe;
      return (await axe.run('section[aria-labelledby="serve-title"]')).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
    });
    expect(violations).toEqual([]);
    await consent.uncheck();
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await consent.isChecked()).toBe(false);
    await context.close();
  });
});

describe('a tab prewarmed on request', () => {
  it('loads the pressured model when asked, joins its pool and serves part of the burst', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${dev.base}/?device=wasm&model=ppocr-v4`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#join-token', JOIN);
    await page.getByRole('checkbox', { name: 'Let the coordinator load models for me while serving' }).check();
    await page.getByLabel('Up to (MB)').fill('100');
    await page.getByLabel('Up to (MB)').dispatchEvent('change');
    await page.getByRole('switch', { name: 'Serve requests' }).click();
    const texts = () => page.evaluate(() => ['model-status', 'serve-status', 'prewarm-status'].map((id) => `${id}: ${document.getElementById(id)?.textContent}`).join('\n'));
    await page.waitForFunction(() => /Offering to load models on request\.$/.test(document.getElementById('prewarm-status')?.textContent ?? ''), undefined, { timeout: 120_000 })
      .catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}\n${await texts()}`);
      });

    const image = await renderText({ lines: ['Prewarm me'], family: 'DejaVu Sans', size: 32 });
    const png = PNG.sync.write({ width: image.width, height: image.height, data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length) } as PNG);
    const body = JSON.stringify({ instances: [{ image: png.toString('base64') }] });
    const statuses = new Map<number, number>();
    let stop = false;
    const loop = async (): Promise<void> => {
      while (!stop) {
        const res = await fetch(`${dev.base}/v1/models/ppocr-b:predict`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body });
        const answer = (await res.json()) as { predictions?: { text: string }[] };
        if (res.status === 200) expect(answer.predictions?.[0]?.text).toMatch(/Prewarm/i);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    const loops = Array.from({ length: 12 }, loop);
    try {
      await page.waitForFunction(() => /Serving ppocr-b on request: [1-9]\d* requests? served/.test(document.getElementById('prewarm-status')?.textContent ?? ''), undefined, { timeout: 150_000 })
        .catch(async (err: unknown) => {
          throw new Error(`${(err as Error).message}\n${await texts()}\n${dev.log().slice(-2000)}`);
        });
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect([...statuses.keys()]).toEqual([200]);
    const metrics = await (await fetch(`${dev.base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).text();
    expect(metrics).toMatch(/tessera_prewarm_events_total\{model="ppocr-b",type="asked"\} 1\n/);
    expect(metrics).toMatch(/tessera_prewarm_events_total\{model="ppocr-b",type="ready"\} 1\n/);
    expect(metrics).toMatch(/tessera_prewarm_budget_bytes\{state="offered"\} 100000000\n/);
    await page.getByRole('switch', { name: 'Serve requests' }).click();
    await context.close();
  }, 300_000);
});
