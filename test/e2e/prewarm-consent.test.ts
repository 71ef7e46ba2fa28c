/**
 * The app's prewarming consent in real Chromium (the built PWA, served by the
 * Worker stand-in of e2e-app-server.ts): off by default, separate from the
 * "Serve requests" switch, remembered across reloads with its budget, and
 * accessible (axe-core: no serious or critical violations in the serve card).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts';
import { startAppServer, type AppServer } from './e2e-app-server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
// Its own output folder: e2e-app builds into .cache/e2e-dist and may run at the same time.
const DIST = resolve(ROOT, '.cache/e2e-dist-prewarm');

let browser: Browser;
let host: AppServer;

beforeAll(async () => {
  await build({ configFile: resolve(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } });
  host = await startAppServer({ dist: DIST });
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await host?.close();
});

describe('the prewarm consent', () => {
  it('is off by default, remembered with its budget, and passes axe', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(host.url);
    await page.waitForSelector('body[data-ready="true"]');
    const consent = page.getByRole('checkbox', { name: 'Let the coordinator load models for me while serving' });
    const budget = page.getByLabel('Up to (MB)');
    expect(await consent.isChecked()).toBe(false);
    expect(await budget.inputValue()).toBe('256');
    expect(await page.locator('#prewarm-status').textContent()).toBe('The coordinator loads nothing here on its own.');
    // Separate from serving: giving consent does not switch serving on.
    await consent.check();
    await budget.fill('512');
    await budget.dispatchEvent('change');
    expect(await page.locator('#prewarm-status').textContent()).toMatch(/may load up to 512 MB of models here while serving/);
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
