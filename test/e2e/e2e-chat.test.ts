/**
 * The built embed script and PWA as the whole runtime, in real Chromium
 * (playwright-core, system Chromium), served by the real Worker under
 * `wrangler dev` (e2e-app-worker.ts: the app as its static assets, the packs
 * and ONNX Runtime's wasm published to its local R2) with real packs: a generated LLaMA-style decoder
 * (`tiny-llama`, h-gen-engine's llama-decoder in the HF layout), a raw ONNX
 * matmul chain (`mlp`) and a tiny BERT encoder (`tiny-bert`). wasm only.
 *
 * - Embed, from a page of a second origin: the catalogue with kinds; a raw
 *   session matching onnxruntime-node; a transformers.js pipeline matching
 *   onnxruntime-node; `tessera.chat` / `tessera.generate` streaming (for
 *   await, onToken, AbortSignal) whose greedy tokens match the engine in
 *   Node, decoded in a worker started from the host's script (the page's
 *   timers keep ticking), or in the page where its CSP refuses workers;
 *   `<tessera-chat>`: streamed answer, tokens/s, Stop; axe; screenshot.
 * - PWA: picking tiny-llama shows the chat panel; a streamed answer with
 *   tokens/s; Stop; axe; screenshot; offline after one visit.
 *
 * Screenshots go to .test-results/.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInProcessEngine } from '../../src/engine/in-process-engine.ts';
import { packModel } from '../../src/pack/pack-model.ts';
import type { ChatMessage, GenerateChunk, GenerateResult } from '../../src/protocol/generation.ts';
import type { TesseraApi } from '../../src/embed/tessera-api.ts';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts';
import { buildFixtures, readExpected, type Expected } from '../helpers/fixtures.ts';
import { HF_SENTENCES, referenceEmbeddings } from '../helpers/hf-fixtures.ts';
import { TINY_LLAMA, writeLlamaFixture, type LlamaFixture } from '../helpers/llama-fixture.ts';
import { writeHfEncoder } from '../helpers/hf-model.ts';
import { countPackBytes, otherOrigin, startAppWorker, type AppWorker, type OtherOrigin } from './e2e-app-worker.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const WORK = resolve(ROOT, '.cache/e2e-chat');
const DIST = resolve(WORK, 'dist');
const SHOTS = resolve(ROOT, '.test-results');
const MESSAGES: ChatMessage[] = [{ role: 'user', content: 'Hello there! Tell me about tessellation.' }];
const MAX_TOKENS = 24;

let browser: Browser;
let llama: LlamaFixture;
let host: AppWorker;
let other: OtherOrigin;
let mlpExpected: Expected;
let bertExpected: number[][];
/** Greedy output of the engine in Node for MESSAGES: what every browser surface must reproduce. */
let reference: { text: string; tokenIds: number[] };

type Api = () => TesseraApi;
const tessera: Api = () => (window as unknown as { tessera: TesseraApi }).tessera;

async function axeSerious(page: Page): Promise<{ id: string; impact: string; nodes: number }[]> {
  const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  // A longer context than the unit tests' so a chat can go a few turns.
  llama = await writeLlamaFixture({ ...TINY_LLAMA, maxPositions: 512 });
  const encoder = await writeHfEncoder(join(WORK, 'src', 'tiny-bert'), { hidden: 32, heads: 4, layers: 2 });
  const [fixtures] = await Promise.all([
    buildFixtures(),
    packModel(encoder.dir, { out: join(WORK, 'packs', 'tiny-bert'), name: 'tiny-bert', chunkSize: 64 * 1024 }),
    build({ configFile: resolve(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } }),
  ]);
  mlpExpected = await readExpected(fixtures.packs.mlp);
  bertExpected = await referenceEmbeddings(encoder, join(encoder.dir, 'onnx', 'model.onnx'), HF_SENTENCES);
  host = await startAppWorker({
    dist: DIST,
    packs: { 'tiny-llama': llama.packDir, mlp: fixtures.packs.mlp.dir, 'tiny-bert': join(WORK, 'packs', 'tiny-bert') },
    work: WORK,
  });
  other = await otherOrigin({
      '/': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A page on another origin</title>
        <script type="module" src="${host.url}/embed.js"></script></head>
        <body style="font-family: system-ui; margin: 2rem"><main><h1>Ask the model</h1>
        <tessera-chat model="tiny-llama" device="wasm" max-tokens="${MAX_TOKENS}" label="Your question"></tessera-chat></main></body></html>`,
      '/missing': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A model that is not there</title>
        <script type="module" src="${host.url}/embed.js"></script></head>
        <body><main><tessera-chat model="no-such-model"></tessera-chat></main></body></html>`,
      // A site whose policy refuses every worker: the embed must fall back to the page's thread.
      '/no-workers': {
        html: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>No workers here</title>
          <script type="module" src="${host.url}/embed.js"></script></head><body><main><h1>Strict</h1></main></body></html>`,
        headers: { 'Content-Security-Policy': "worker-src 'none'" },
      },
  });
  // The reference: the same pack, through the same engine code, in Node.
  const engine = createInProcessEngine();
  try {
    const revision = (JSON.parse(await readFile(join(llama.packDir, 'manifest.json'), 'utf8')) as { revision: string }).revision;
    const generator = await engine.loadGenerator(`${host.url}/models/tiny-llama/${revision}/manifest.json`, { cache: { type: 'memory' }, device: 'wasm' });
    const stream = generator.generate({ messages: MESSAGES, maxNewTokens: MAX_TOKENS });
    const ids: number[] = [];
    for await (const chunk of stream) ids.push(...chunk.tokenIds);
    reference = { text: (await stream.result).text, tokenIds: ids };
  } finally {
    await engine.dispose();
  }
  expect(reference.tokenIds).toHaveLength(MAX_TOKENS);
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await other?.close();
  await llama?.close();
});

describe('embed script on a second origin', () => {
  it('lists the catalogue with kinds, runs a raw ONNX model and a transformers.js pipeline', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${other.url}/`);
    expect(new URL(other.url).port).not.toBe(new URL(host.url).port);
    expect(await page.evaluate(`(${tessera})().catalogue()`)).toEqual([
      { name: 'mlp', revision: expect.any(String), kind: 'onnx' },
      { name: 'tiny-bert', revision: expect.any(String), kind: 'hf' },
      { name: 'tiny-llama', revision: expect.any(String), kind: 'text-generation' },
    ]);

    const input = mlpExpected.inputs.input!;
    const raw = (await page.evaluate(
      async ({ input }) => {
        const t = (window as unknown as { tessera: TesseraApi }).tessera;
        const model = await t.load('mlp', { device: 'wasm' });
        const out = await model.run({ input: { type: 'float32', dims: input.dims, data: new Float32Array(input.data) } });
        const wrong = await t.load('tiny-llama').then(() => 'loaded', (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);
        return { device: model.device, dims: out.output!.dims, data: [...(out.output!.data as Float32Array)], wrong };
      },
      { input },
    )) as { device: string; dims: number[]; data: number[]; wrong: string };
    expect(raw.device).toBe('wasm');
    expect(raw.dims).toEqual(mlpExpected.outputs.output!.dims);
    raw.data.forEach((v, i) => expect(v).toBeCloseTo(mlpExpected.outputs.output!.data[i]!, 3));
    expect(raw.wrong).toMatch(/^invalid-argument: tiny-llama is a text-generation model; load it with tessera\.generate/);

    const vectors = (await page.evaluate(async (sentences) => {
      const embed = await (window as unknown as { tessera: TesseraApi }).tessera.pipeline('feature-extraction', 'tiny-bert', { device: 'wasm' });
      const out = (await embed(sentences, { pooling: 'mean', normalize: true })) as { dims: number[]; data: Float32Array };
      const rows: number[][] = [];
      for (let r = 0; r < out.dims[0]!; r++) rows.push([...out.data.slice(r * out.dims[1]!, (r + 1) * out.dims[1]!)]);
      return rows;
    }, HF_SENTENCES)) as number[][];
    // Both ran in workers started from the host's scripts: the engine's, and the pipeline's own.
    expect(page.workers().map((w) => w.url())).toEqual([expect.stringMatching(new RegExp(`^blob:${other.url}/`)), expect.stringMatching(new RegExp(`^blob:${other.url}/`))]);
    expect(vectors).toHaveLength(bertExpected.length);
    vectors.forEach((row, r) => row.forEach((v, i) => expect(v).toBeCloseTo(bertExpected[r]![i]!, 4)));
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);

  it('streams chat and generate with for await, onToken and AbortSignal; greedy tokens match the engine in Node', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${other.url}/`);
    type Run = { chunks: GenerateChunk[]; callbacks: GenerateChunk[]; result: GenerateResult };
    const chat = (await page.evaluate(
      async ({ messages, max }) => {
        const t = (window as unknown as { tessera: TesseraApi }).tessera;
        const chunks: GenerateChunk[] = [];
        const callbacks: GenerateChunk[] = [];
        const stream = t.chat('tiny-llama', messages, { maxNewTokens: max, device: 'wasm', onToken: (c) => callbacks.push(c) });
        for await (const chunk of stream) chunks.push(chunk);
        return { chunks, callbacks, result: await stream.result };
      },
      { messages: MESSAGES, max: MAX_TOKENS },
    )) as Run;
    expect(chat.chunks.flatMap((c) => c.tokenIds)).toEqual(reference.tokenIds);
    expect(chat.callbacks).toEqual(chat.chunks);
    expect(chat.chunks.map((c) => c.text).join('')).toBe(chat.result.text);
    expect(chat.result).toMatchObject({ text: reference.text, finishReason: 'length', completionTokens: MAX_TOKENS });
    expect(chat.result.promptTokens).toBeGreaterThan(5);

    // It decoded in a worker started from the host's script, not in this page:
    // the page never fetched ONNX Runtime's wasm (the worker did).
    const where = (await page.evaluate(async () => {
      const g = await (window as unknown as { tessera: TesseraApi }).tessera.generator('tiny-llama');
      return { engine: g.engine, reason: g.engineReason, wasmInPage: performance.getEntriesByType('resource').filter((e) => /\.wasm(\?|$)/.test(e.name)).length };
    })) as { engine: string; reason: string; wasmInPage: number };
    expect(where).toEqual({ engine: 'worker', reason: "worker: started from the host's script (this page is another origin)", wasmInPage: 0 });
    expect(page.workers().map((w) => w.url())).toContainEqual(expect.stringMatching(new RegExp(`^blob:${other.url}/`)));

    const stopped = (await page.evaluate(async () => {
      const t = (window as unknown as { tessera: TesseraApi }).tessera;
      const controller = new AbortController();
      let seen = 0;
      const stream = t.generate('tiny-llama', 'Once upon a time', {
        maxNewTokens: 200,
        signal: controller.signal,
        onToken: (c) => {
          seen += c.tokenIds.length;
          if (seen >= 3) controller.abort();
        },
      });
      const texts: string[] = [];
      for await (const chunk of stream) texts.push(chunk.text);
      return { result: await stream.result, chunks: texts.length };
    })) as { result: GenerateResult; chunks: number };
    expect(stopped.result.finishReason).toBe('abort');
    // The chunks and the cancel each cross the worker boundary while the tiny
    // model makes a token in a few ms, so a few more than the three seen may be
    // made (the one-step bound once the cancel is in is checked in Node, as for
    // test/browser/generate.test.ts); far fewer than the 200 asked for.
    expect(stopped.result.completionTokens).toBeGreaterThanOrEqual(3);
    expect(stopped.result.completionTokens).toBeLessThan(30);


    const bad = await page.evaluate(async () => {
      const t = (window as unknown as { tessera: TesseraApi }).tessera;
      const stream = t.generate('no-such-model', 'hi');
      return stream.result.then(() => 'ok', (e: { code?: string }) => e.code);
    });
    expect(bad).toBe('not-found');
    await context.close();
  }, 120_000);

  it("falls back to the page's thread where the page's policy refuses workers, says why, and still streams the same tokens", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${other.url}/no-workers`);
    const run = (await page.evaluate(
      async ({ messages, max }) => {
        const t = (window as unknown as { tessera: TesseraApi }).tessera;
        const g = await t.generator('tiny-llama', { device: 'wasm' });
        const ids: number[] = [];
        for await (const chunk of t.chat('tiny-llama', messages, { maxNewTokens: max })) ids.push(...chunk.tokenIds);
        const controller = new AbortController();
        let seen = 0;
        const stopped = await t.generate('tiny-llama', 'Once upon a time', {
          maxNewTokens: 200,
          signal: controller.signal,
          onToken: (c) => {
            seen += c.tokenIds.length;
            if (seen >= 3) controller.abort();
          },
        }).result;
        return { engine: g.engine, reason: g.engineReason, ids, stopped: { finish: stopped.finishReason, tokens: stopped.completionTokens } };
      },
      { messages: MESSAGES, max: MAX_TOKENS },
    )) as { engine: string; reason: string; ids: number[]; stopped: { finish: string; tokens: number } };
    expect(run.engine).toBe('in-process');
    expect(run.reason).toMatch(/^in-process: a worker running http:\/\/127\.0\.0\.1:\d+\/assets\/engine-worker-[\w-]+\.js could not start on this page .*worker-src/);
    expect(run.ids).toEqual(reference.tokenIds);
    // In the page's own loop an abort stops it within one step.
    expect(run.stopped.finish).toBe('abort');
    expect(run.stopped.tokens).toBeGreaterThanOrEqual(3);
    expect(run.stopped.tokens).toBeLessThanOrEqual(4);
    expect(page.workers()).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('<tessera-chat>: a typed question gets a streamed answer with tokens/s; Stop ends one early; axe; screenshot', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    const page = await context.newPage();
    await page.goto(`${other.url}/`);
    const box = page.getByRole('textbox', { name: 'Your question' });
    await box.fill(MESSAGES[0]!.content);
    await box.press('Enter');
    const answer = page.locator('tessera-chat li[data-role="assistant"]').first();
    await expect.poll(() => answer.getAttribute('data-finish'), { timeout: 90_000 }).toBe('length');
    expect(await answer.textContent()).toBe(reference.text.trimStart());
    expect(await page.locator('tessera-chat .tc-stats').textContent()).toMatch(new RegExp(`^${MAX_TOKENS} tokens · [\\d.]+ tokens/s · first token in \\d+ ms · length limit$`));
    expect(await page.locator('tessera-chat .tc-status').textContent()).toBe('tiny-llama on WebAssembly');
    expect(await page.locator('tessera-chat').getAttribute('data-engine')).toBe('worker');
    expect(await page.evaluate(() => (document.querySelector('tessera-chat') as unknown as { messages: unknown[] }).messages.length)).toBe(2);
    await page.screenshot({ path: resolve(SHOTS, 'chat-embed.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);

    // A long answer, stopped with its Stop button once its first words are on
    // screen. It is written in the engine's worker (a token every few ms, and a
    // slowed page CPU does not slow the worker), so the click is made by the
    // page itself, on the first words: one from here could land after the last token.
    await page.evaluate(() => document.querySelector('tessera-chat')!.setAttribute('max-tokens', '200'));
    await box.fill('And then?');
    await page.evaluate(() => {
      const root = document.querySelector('tessera-chat')!.shadowRoot!;
      const watch = new MutationObserver(() => {
        if ((root.querySelectorAll('li[data-role="assistant"]')[1]?.textContent ?? '') === '') return;
        watch.disconnect();
        root.querySelector<HTMLButtonElement>('button.tc-stop')!.click();
      });
      watch.observe(root, { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('button', { name: 'Send' }).click();
    const second = page.locator('tessera-chat li[data-role="assistant"]').nth(1);
    await expect.poll(() => second.getAttribute('data-finish'), { timeout: 30_000 }).toBe('abort');
    const stats = (await page.locator('tessera-chat .tc-stats').textContent()) ?? '';
    expect(stats).toMatch(/ · stopped$/);
    expect(Number(stats.split(' ')[0])).toBeLessThan(200);
    expect(await page.getByRole('button', { name: 'Stop the answer' }).isDisabled()).toBe(true);

    // A model the host does not have: the answer says why, the question leaves the history, the error event fires.
    await page.goto(`${other.url}/missing`);
    await page.evaluate(() => document.addEventListener('tessera-error', (e) => ((window as unknown as { lastError: unknown }).lastError = (e as CustomEvent).detail)));
    await page.getByRole('textbox', { name: 'Message' }).fill('Anyone there?');
    await page.keyboard.press('Enter');
    const failed = page.locator('tessera-chat li[data-role="assistant"]');
    await expect.poll(() => failed.getAttribute('class'), { timeout: 30_000 }).toMatch(/tc-error/);
    expect(await failed.textContent()).toMatch(/^Could not answer: .*no-such-model/);
    expect(await page.locator('tessera-chat .tc-status').textContent()).toMatch(/^Could not load no-such-model: /);
    expect(await page.evaluate(() => (window as unknown as { lastError: { code: string } }).lastError.code)).toBe('not-found');
    expect(await page.evaluate(() => (document.querySelector('tessera-chat') as unknown as { messages: unknown[] }).messages.length)).toBe(0);
    expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(false);
    await context.close();
  }, 180_000);
});

describe('PWA', () => {
  it('picking a text-generation model shows the chat: streamed answer, tokens/s, Stop, axe, screenshot; offline after one visit', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const packBytes = countPackBytes(context, host.url, ['tiny-llama']);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${host.url}/?device=wasm&model=tiny-llama`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#chat').isVisible()).toBe(true);
    expect(await page.locator('#read').isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Load model' }).click();
    await page.waitForFunction(() => /is ready on/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 90_000 });
    expect(await page.locator('#model-status').textContent()).toMatch(/^tiny-llama \([0-9a-f]{8}\) is ready on wasm\. Manifest from network\.$/);
    const sent = await packBytes.total();
    expect(sent).toBeGreaterThan(0);

    const box = page.getByRole('textbox', { name: 'Message to the model' });
    await box.fill(MESSAGES[0]!.content);
    await box.press('Enter');
    const answer = page.locator('#chat li[data-role="assistant"]').first();
    await expect.poll(() => answer.getAttribute('data-finish'), { timeout: 90_000 }).not.toBeNull();
    const online = (await answer.textContent()) ?? '';
    expect(online.length).toBeGreaterThan(0);
    expect(await page.locator('#chat .tc-stats').textContent()).toMatch(/^\d+ tokens · [\d.]+ tokens\/s · first token in \d+ ms/);
    await page.screenshot({ path: resolve(SHOTS, 'pwa-chat.png'), fullPage: true });
    expect(await axeSerious(page)).toEqual([]);

    // The answer is written in the engine's worker: press Stop (from the keyboard, as a
    // keyboard user would; the button moves while the answer grows) as soon as the answer starts.
    // The tiny test model writes its whole answer in about half a second, so
    // the key press can still land after the last token: ask again (at most three
    // times) until one answer is stopped mid-way; an answer that was not
    // stopped must have ended at its length limit, nothing else.
    let stopped = false;
    for (let attempt = 1; attempt <= 3 && !stopped; attempt++) {
      await box.fill('And then?');
      await box.press('Enter');
      // Stop at once, not after the first token: under load the page's thread
      // is busy drawing tokens, and the key press was seen only after the
      // worker had written the last one.
      await page.getByRole('button', { name: 'Stop the answer' }).focus();
      await page.keyboard.press('Enter');
      const answerN = page.locator('#chat li[data-role="assistant"]').nth(attempt);
      await expect.poll(() => answerN.getAttribute('data-finish'), { timeout: 30_000 }).not.toBeNull();
      const finish = await answerN.getAttribute('data-finish');
      expect(['abort', 'length']).toContain(finish);
      stopped = finish === 'abort';
    }
    expect(stopped, 'Stop ended none of three answers mid-way').toBe(true);
    expect(await page.locator('#chat .tc-stats').textContent()).toMatch(/ · stopped$/);
    expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(false);

    // Offline: the service worker serves the shell, IndexedDB the model.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 60_000 });
    await context.setOffline(true);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await expect.poll(() => page.locator('#network-badge').textContent()).toBe('Offline');
    await expect.poll(() => page.locator('#model-select option').allTextContents()).toContain('tiny-llama');
    await page.selectOption('#model-select', 'tiny-llama');
    expect(await page.locator('#chat').isVisible()).toBe(true);
    await box.fill(MESSAGES[0]!.content);
    await box.press('Enter');
    await expect.poll(() => answer.getAttribute('data-finish'), { timeout: 90_000 }).not.toBeNull();
    // Greedy: offline, from the cached pack, the same answer word for word.
    expect(await answer.textContent()).toBe(online);
    expect(await page.locator('#model-status').textContent()).toMatch(/is ready on wasm\. Manifest from cache\./);
    expect(await packBytes.total()).toBe(sent);
    await page.screenshot({ path: resolve(SHOTS, 'pwa-chat-offline.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  }, 300_000);

  it("two tabs share one generator: the second tab's answer streams from the first tab's session", async () => {
    const context = await browser.newContext();
    const packBytes = countPackBytes(context, host.url, ['tiny-llama']);
    const url = `${host.url}/?device=wasm&model=tiny-llama&autoload`;
    const a = await context.newPage();
    await a.goto(url);
    await a.waitForFunction(() => /is ready on/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 90_000 });
    const sent = await packBytes.total();
    expect(sent).toBeGreaterThan(0);
    const b = await context.newPage();
    await b.goto(url);
    type App = { tesseraApp: { chatShare?: { role: string; tabId: string } } };
    const role = (p: Page) => p.evaluate(() => (window as unknown as App).tesseraApp.chatShare?.role);
    await expect.poll(() => role(b), { timeout: 20_000 }).toBe('follower');
    expect(await role(a)).toBe('leader');
    expect(await b.locator('#model-status').textContent()).toBe('tiny-llama is loaded in another tab; answers here come from it.');

    const ask = async (p: Page): Promise<string> => {
      const box = p.getByRole('textbox', { name: 'Message to the model' });
      await box.fill(MESSAGES[0]!.content);
      await box.press('Enter');
      const answer = p.locator('#chat li[data-role="assistant"]').first();
      await expect.poll(() => answer.getAttribute('data-finish'), { timeout: 90_000 }).not.toBeNull();
      expect(await p.locator('#chat .tc-stats').textContent()).toMatch(/^\d+ tokens · [\d.]+ tokens\/s/);
      return (await answer.textContent()) ?? '';
    };
    const fromFollower = await ask(b);
    expect(fromFollower.length).toBeGreaterThan(0);
    // Greedy: the same answer as the leader gives itself, and the follower downloaded nothing.
    expect(await ask(a)).toBe(fromFollower);
    expect(await packBytes.total()).toBe(sent);
    await context.close();
  }, 180_000);
});
