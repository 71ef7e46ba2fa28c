/**
 * The live dashboard end to end: the built page (dist/dashboard.html, served
 * by `wrangler dev --assets`) in real Chromium, against the real Worker,
 * its pool objects and directory, with two real sessions: `mlp` (the small
 * fixture pack, run by onnxruntime-node in `tessera serve`'s compute child)
 * and `chat-sim` (simulated text generation, for time to first token).
 *
 * It signs in with a wrong token (refused, the page says so), then with an
 * API key that has only the `dashboard` scope; sees both pools, both
 * sessions and the catalogue; sends requests to both models and checks that
 * the numbers move while it does (requests total, requests/s, TTFT), pushed
 * over the SSE feed with no reload; runs axe-core (no serious or critical
 * violations) and saves a screenshot to .test-results/dashboard.png; then a
 * cut connection (a TCP proxy between Chromium and the Worker) reconnects
 * and the page is whole again, and a pool whose session leaves disappears.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { serve, type ServeSession } from '../../src/cli/commands/serve.ts';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts';
import { buildFixtures, readExpected, type Fixtures } from '../helpers/fixtures.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DIST = resolve(ROOT, '.cache/dashboard-dist');
const SHOTS = resolve(ROOT, '.test-results');
const JOIN = 'dash-join';
const ADMIN = 'dash-admin';
const KEY = 'dash-inference-key';
const DASHBOARD_KEY = 'dash-viewer-key';

let dev: WranglerDev;
let fixtures: Fixtures;
let browser: Browser;
let proxy: CuttableProxy;
const sessions: ServeSession[] = [];

/**
 * A TCP proxy in front of the Worker that can cut every open connection, the
 * way a network drop does (Chromium's offline emulation leaves open streams alone).
 */
interface CuttableProxy {
  url: string;
  cut(): void;
  close(): Promise<void>;
}

async function startProxy(target: URL): Promise<CuttableProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () => new Promise<void>((done) => {
      for (const s of open) s.destroy();
      server.close(() => done());
    }),
  };
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  [fixtures] = await Promise.all([
    buildFixtures(),
    build({ configFile: resolve(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } }),
  ]);
  dev = await startWranglerDev({
    assets: DIST,
    cwd: ROOT,
    // One inference key and one that may only watch the dashboard (lib/api-keys.ts).
    vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_ADMIN_TOKEN: ADMIN, TESSERA_API_KEYS: `${KEY}, ${DASHBOARD_KEY} dashboard` },
  });
  await publishDir(fixtures.packs.mlp.dir, { baseUrl: dev.base, token: ADMIN });
  sessions.push(await serve({ coordinator: dev.base, models: ['mlp'], joinToken: JOIN, device: 'cpu', maxBatch: 4 }));
  sessions.push(await serve({ coordinator: dev.base, models: ['chat-sim'], joinToken: JOIN, simulateTokenMs: 5 }));
  await Promise.all(sessions.map((s) => s.joined()));
  proxy = await startProxy(new URL(dev.base));
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  await dev?.stop();
});

/** Requests to both models until `signal` aborts; counts the answers. */
async function sendLoad(signal: AbortSignal): Promise<{ ok: number; failed: number }> {
  const expected = await readExpected(fixtures.packs.mlp);
  const [, input] = Object.entries(expected.inputs)[0]!;
  const width = input.dims[1]!;
  const instances = Array.from({ length: input.dims[0]! }, (_, i) => input.data.slice(i * width, (i + 1) * width));
  const counts = { ok: 0, failed: 0 };
  const loop = async (send: () => Promise<Response>) => {
    while (!signal.aborted) {
      try {
        const res = await send();
        await res.arrayBuffer();
        if (res.ok) counts.ok += 1;
        else counts.failed += 1;
      } catch {
        if (!signal.aborted) counts.failed += 1;
      }
    }
  };
  const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
  const predict = () => fetch(`${dev.base}/v1/models/mlp:predict`, { method: 'POST', headers, body: JSON.stringify({ instances }), signal });
  const chat = () => fetch(`${dev.base}/v1/chat/completions`, {
    method: 'POST', headers, signal,
    body: JSON.stringify({ model: 'chat-sim', messages: [{ role: 'user', content: 'hello dashboard' }], max_tokens: 8 }),
  });
  await Promise.all([loop(predict), loop(predict), loop(predict), loop(chat), loop(chat)]);
  return counts;
}

/** `promise`, or a failure naming what did not happen within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const cellOf = (page: Page, pool: string, field: string) => page.locator(`#pools-table tr[data-pool="${pool}"] td[data-field="${field}"]`);
const numberIn = (text: string | null) => Number.parseFloat((text ?? '').replace(/[^0-9.]/g, '')) || 0;

describe('dashboard against wrangler dev', () => {
  it('signs in with a dashboard key, shows pools, sessions and the catalogue, moves under load, and passes axe', async () => {
    const started = Date.now();
    // Where the time goes, for a run that is slow (a loaded machine) or stuck.
    const step = (name: string) => console.log(`dashboard test: ${name} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const context = await browser.newContext({ viewport: { width: 1360, height: 1100 } });
    // Bounded waits: a missing element fails the step that wanted it, never the whole test's clock.
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${proxy.url}/dashboard`);

    // A wrong token is refused and the page asks again, saying why (and nothing about valid tokens).
    await page.getByLabel('Token').fill(KEY);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await expect.poll(() => page.locator('#sign-in-error').textContent(), { timeout: 20_000 }).toMatch(/refused/);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    step('refused');
    await page.getByLabel('Token').fill(DASHBOARD_KEY);
    await page.getByRole('button', { name: 'Open dashboard' }).click();
    await expect.poll(() => page.locator('#feed-status').textContent(), { timeout: 20_000 }).toBe('Live');
    await expect.poll(() => page.locator('#pools-table tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.pool)), { timeout: 20_000 }).toEqual(['chat-sim', 'mlp']);
    await expect.poll(() => page.locator('#sessions-table tbody tr').count()).toBe(2);
    expect(await page.locator('#sessions-table tbody').textContent()).toMatch(/cpu/);
    expect(await page.locator('#sessions-table tbody').textContent()).toMatch(/simulated/);
    // The catalogue lists the published pack with its revision, and the revision its pool serves.
    const mlpRow = page.locator('#catalogue-table tr[data-model="mlp"]');
    await expect.poll(() => mlpRow.locator('td[data-field="revision"]').textContent()).toBe(fixtures.packs.mlp.revision);
    expect(await mlpRow.locator('td[data-field="served-revision"]').textContent()).toBe(fixtures.packs.mlp.revision);
    expect(await page.locator('#pool-charts figure').count()).toBe(4);

    step('live');
    const before = numberIn(await cellOf(page, 'mlp', 'requests-total').textContent());
    const stop = new AbortController();
    const load = sendLoad(stop.signal);
    let peakRate = 0;
    try {
      // Pushed, not polled: the page is never reloaded, and numbers change as the pools report.
      await expect.poll(async () => {
        peakRate = Math.max(peakRate, numberIn(await cellOf(page, 'mlp', 'requests-per-second').textContent()));
        return numberIn(await cellOf(page, 'mlp', 'requests-total').textContent());
      }, { timeout: 45_000, interval: 250 }).toBeGreaterThanOrEqual(before + 20);
      await expect.poll(async () => {
        peakRate = Math.max(peakRate, numberIn(await cellOf(page, 'mlp', 'requests-per-second').textContent()));
        return peakRate;
      }, { timeout: 20_000, interval: 250 }).toBeGreaterThan(0);
      await expect.poll(() => cellOf(page, 'chat-sim', 'ttft-p50').textContent(), { timeout: 20_000 }).toMatch(/\d+(\.\d+)? m?s/);
      await expect.poll(() => page.locator('#pool-charts article[data-pool="mlp"] figcaption[data-chart="throughput"]').textContent()).toMatch(/Requests\/s [1-9]/);
      // A few points per chart, so the screenshot shows lines.
      await expect.poll(async () => Number(await page.locator('#pool-charts article[data-pool="mlp"]').getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThanOrEqual(5);
      await page.screenshot({ path: resolve(SHOTS, 'dashboard.png'), fullPage: true });
    } finally {
      stop.abort();
    }
    step('load stopping');
    const sent = await within(load, 30_000, 'the load loops to stop');
    expect(sent.ok).toBeGreaterThan(20);

    step('load stopped');
    const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await page.addScriptTag({ content: axeSource });
    const violations = await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: unknown }[] }[] }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target) }));
    });
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);

    step('axe done');
    // A dropped connection is noticed and reopened, and the feed's snapshot makes the page whole again.
    const statuses: string[] = [];
    await page.exposeFunction('recordStatus', (text: string) => void statuses.push(text));
    await page.evaluate(() => {
      const status = document.getElementById('feed-status')!;
      new MutationObserver(() => (window as unknown as { recordStatus(t: string): void }).recordStatus(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
    });
    proxy.cut();
    await expect.poll(() => statuses.some((t) => /Connection lost|Reconnecting/.test(t)), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => page.locator('#feed-status').textContent(), { timeout: 40_000 }).toBe('Live');
    expect(statuses.at(-1)).toBe('Live');
    expect(await page.locator('#pools-table tbody tr').count()).toBe(2);

    step('reconnected');
    // A pool whose last session leaves goes from the page, charts and all.
    await within(sessions[1]!.close(), 30_000, 'the chat-sim session to close');
    await expect.poll(() => page.locator('#pools-table tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.pool)), { timeout: 30_000 }).toEqual(['mlp']);
    expect(await page.locator('#pool-charts article').count()).toBe(1);
    await expect.poll(() => page.locator('#sessions-table tbody tr').count()).toBe(1);

    step('pool gone');
    // The token stays in this tab: a reload reconnects without asking, and gets a fresh snapshot.
    await page.reload();
    await expect.poll(() => page.locator('#feed-status').textContent(), { timeout: 20_000 }).toBe('Live');
    await expect.poll(() => page.locator('#pools-table tbody tr').count()).toBe(1);
    expect(await page.locator('#sign-in').isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
    await context.close();
  }, 180_000);
});
