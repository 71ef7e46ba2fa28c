/**
 * A browser tab as the coordinator's only session for chat: the built PWA in
 * real Chromium, served by the real Worker under `wrangler dev`
 * (e2e-app-worker.ts), with the tiny generated LLaMA-style decoder
 * (`tiny-llama`, test/helpers/llama-fixture.ts) published to its local R2.
 * The tab loads the model (wasm, in its engine worker), and its "Serve
 * requests" switch joins it to the coordinator. The official `openai` client
 * in Node then calls `/v1/chat/completions`:
 *
 * - streamed: the deltas arrive one token at a time, spread over the
 *   generation (never buffered to the end), and equal the engine's own
 *   greedy chunks in Node; finish_reason and usage from the model's tokenizer;
 * - not streamed: the same text, usage and finish_reason;
 * - a prompt that fits the Worker's bound but not the model's context once
 *   tokenized: the tab refuses it before any step, the client gets a 400 with
 *   the code (an error frame, not a dropped request), and the tab keeps serving;
 * - the tab closes mid-stream: the stream ends with an error, not a silently
 *   short answer;
 * - another chat model picked while serving: the tab leaves the old model's
 *   pool (its requests are no longer answered by it) and serves the new one;
 * - embed.js on a page of another origin: `tessera.serve({ token, model })`
 *   serves the model the same way, and disposing the page's generator takes
 *   the tab out of that model's pool.
 */
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/transport/create-engine.ts';
import { packModel } from '../../src/pack/pack-model.ts';
import type { ChatMessage } from '../../src/protocol/generation.ts';
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts';
import { TINY_LLAMA, writeLlamaFixture, type LlamaFixture } from '../helpers/llama-fixture.ts';
import { otherOrigin, startAppWorker, type AppWorker } from './e2e-app-worker.ts';
import type { TesseraApi } from '../../src/embed/tessera-api.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const WORK = resolve(ROOT, '.cache/e2e-serve-chat');
const DIST = resolve(WORK, 'dist');
const MODEL = 'tiny-llama';
/** A second chat model (other weights) to switch to while serving. */
const MODEL_B = 'tiny-llama-b';
const MESSAGES: ChatMessage[] = [{ role: 'user', content: 'Hello there! Tell me about tessellation.' }];
/** Long enough (the tiny model decodes a token in a few ms) that the stream's arrival times tell streaming from buffering. */
const MAX_TOKENS = 96;

let browser: Browser;
let llama: LlamaFixture;
let llamaB: LlamaFixture;
/** MODEL_B's greedy answer to MESSAGES in Node, MAX_TOKENS long. */
let referenceB: string;
let host: AppWorker;
let client: OpenAI;
/** Closed after each test, passed or not: a tab left serving would answer the next test's requests. */
const contexts: BrowserContext[] = [];
/** What the engine generates in Node for MESSAGES (greedy): every answer from the tab must equal it. */
let reference: { text: string; chunks: string[]; promptTokens: number; completionTokens: number; contextLength: number };

beforeAll(async () => {
  llama = await writeLlamaFixture(TINY_LLAMA);
  llamaB = await writeLlamaFixture({ ...TINY_LLAMA, seed: 11 });
  const packB = join(llamaB.root, 'packs', MODEL_B);
  await packModel(llamaB.dir, { out: packB, name: MODEL_B, chunkSize: 64 * 1024 });
  await build({ configFile: resolve(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } });
  host = await startAppWorker({ dist: DIST, packs: { [MODEL]: llama.packDir, [MODEL_B]: packB }, work: WORK });
  client = new OpenAI({ baseURL: `${host.url}/v1`, apiKey: host.apiKey, maxRetries: 0 });
  const engine = await createEngine({ transport: 'in-process' });
  try {
    const { revision } = (await (await fetch(`${host.url}/models/${MODEL}/manifest.json`)).json()) as { revision: string };
    const generator = await engine.loadGenerator(`${host.url}/models/${MODEL}/${revision}/manifest.json`, { cache: { type: 'memory' }, device: 'wasm' });
    const stream = generator.generate({ messages: MESSAGES, maxNewTokens: MAX_TOKENS });
    const chunks: string[] = [];
    for await (const chunk of stream) if (chunk.text !== '') chunks.push(chunk.text);
    const result = await stream.result;
    reference = { text: result.text, chunks, promptTokens: result.promptTokens, completionTokens: result.completionTokens, contextLength: generator.contextLength };
    const { revision: revisionB } = (await (await fetch(`${host.url}/models/${MODEL_B}/manifest.json`)).json()) as { revision: string };
    const generatorB = await engine.loadGenerator(`${host.url}/models/${MODEL_B}/${revisionB}/manifest.json`, { cache: { type: 'memory' }, device: 'wasm' });
    referenceB = (await generatorB.generate({ messages: MESSAGES, maxNewTokens: MAX_TOKENS }).result).text;
  } finally {
    await engine.dispose();
  }
  expect(reference.completionTokens).toBe(MAX_TOKENS);
  expect(reference.chunks.length).toBeGreaterThan(4);
  // Other weights, another answer: an answer tells which model gave it.
  expect(referenceB).not.toBe(reference.text);
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}, 240_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await llama?.close();
  await llamaB?.close();
});

/** Which of the two chat models the coordinator has a session for now. */
async function servedModels(): Promise<string[]> {
  return (await client.models.list()).data.map((m) => m.id).filter((id) => id === MODEL || id === MODEL_B);
}

/**
 * A chat for a model no session serves: 400 "not served" once the Worker's
 * model list has caught up, 503 `unavailable` from the model's empty pool
 * while its cached list still has it. Never an answer.
 */
const UNSERVED = expect.toSatisfy((r: { status?: number; code?: string }) => (r.status === 400 && r.code === 'bad-request') || (r.status === 503 && r.code === 'unavailable'), 'refused: no session serves the model');

/** How a chat for `model` ends: its text, or the HTTP status and code it was refused with. */
async function ask(model: string): Promise<{ text: string } | { status?: number; code?: string }> {
  return client.chat.completions.create({ model, messages: MESSAGES, max_tokens: MAX_TOKENS }).then(
    (r) => ({ text: r.choices[0]?.message.content ?? '' }),
    (e: { status?: number; error?: { code?: string } }) => ({ status: e.status, code: e.error?.code }),
  );
}

/** Opens the app on tiny-llama, loads it, and turns "Serve requests" on with the join token. */
async function servingTab(page: Page): Promise<void> {
  await page.goto(`${host.url}/?device=wasm&model=${MODEL}&autoload`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => /is ready on wasm/.test(document.getElementById('model-status')?.textContent ?? ''), undefined, { timeout: 90_000 });
  await page.getByLabel('Join token').fill(host.joinToken);
  await page.getByRole('switch', { name: 'Serve requests' }).click();
  await expect.poll(() => page.locator('#serve-status').textContent(), { timeout: 30_000 }).toMatch(/^Joined as [0-9a-f-]{8}: 0 requests served\.$/);
  expect(await page.getByRole('switch', { name: 'Serve requests' }).getAttribute('aria-checked')).toBe('true');
}

/** A page in its own context (closed after the suite), with its uncaught errors collected. */
async function newPage() {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, errors };
}

describe('a browser tab serving chat through the coordinator', () => {
  it('streams a chat completion token by token, completes a non-streamed one, refuses a too-long prompt with a 400, and keeps serving', async () => {
    const { page, errors } = await newPage();
    await servingTab(page);

    // The tab's offer: the model's task and context, as /v1/models reports them.
    const models = await client.models.list();
    expect(models.data.find((m) => m.id === MODEL)).toMatchObject({ task: 'text-generation', context_length: reference.contextLength });

    const started = performance.now();
    const stream = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: MAX_TOKENS, stream: true, stream_options: { include_usage: true } });
    const deltas: { text: string; at: number }[] = [];
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta.content;
      if (text) deltas.push({ text, at: performance.now() - started });
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    const end = performance.now() - started;
    // One delta per decoded piece, in order: exactly the engine's own chunks.
    expect(deltas.map((d) => d.text)).toEqual(reference.chunks);
    expect(deltas.map((d) => d.text).join('')).toBe(reference.text);
    expect(finish).toBe('length');
    expect(usage).toEqual({ prompt_tokens: reference.promptTokens, completion_tokens: reference.completionTokens, total_tokens: reference.promptTokens + reference.completionTokens });
    // Spread over the generation, not one burst at its end: the first token came
    // well before the last, and they came in many separate arrivals (the dev
    // proxy's TCP writes group a few tokens at a time).
    const first = deltas[0]!.at;
    const last = deltas.at(-1)!.at;
    const why = `deltas at ${deltas.map((d) => Math.round(d.at)).join(', ')} ms; stream ended at ${Math.round(end)} ms`;
    expect(last - first, why).toBeGreaterThan((end - first) * 0.5);
    expect(new Set(deltas.map((d) => Math.floor(d.at / 10))).size, why).toBeGreaterThanOrEqual(4);

    const whole = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: MAX_TOKENS });
    expect(whole.choices[0]?.message.content).toBe(reference.text);
    expect(whole.choices[0]?.finish_reason).toBe('length');
    expect(whole.usage).toEqual({ prompt_tokens: reference.promptTokens, completion_tokens: reference.completionTokens, total_tokens: reference.promptTokens + reference.completionTokens });

    // Under the Worker's provable bound, past the context once tokenized: the tab refuses it.
    const tooLong = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello '.repeat(reference.contextLength) }], max_tokens: 4 }).then(
      () => 'answered',
      (e: { status?: number; error?: { code?: string; message?: string } }) => e,
    );
    expect(tooLong).toMatchObject({ status: 400, error: { code: 'invalid-argument', message: expect.stringMatching(/the prompt has \d+ tokens; model "tiny-llama" has a context of 256/) } });
    // ...and keeps serving.
    const after = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 8 });
    const shorter = after.choices[0]?.message.content ?? '';
    expect(shorter.length).toBeGreaterThan(0);
    expect(reference.text.startsWith(shorter), `"${shorter}" should begin "${reference.text}"`).toBe(true);
    await expect.poll(() => page.locator('#serve-status').textContent()).toBe(`Serving ${MODEL}: 3 requests served.`);
    expect(errors).toEqual([]);
  }, 240_000);

  it('picking another chat model while serving leaves the old model\'s pool and serves the new one', async () => {
    const { page, errors } = await newPage();
    await servingTab(page);
    expect(await ask(MODEL)).toEqual({ text: reference.text });
    await expect.poll(() => page.locator('#serve-status').textContent()).toBe(`Serving ${MODEL}: 1 request served.`);

    await page.selectOption('#model-select', MODEL_B);
    // The new model loads in the tab and the session joins its pool; the old pool has nobody left.
    await expect.poll(() => page.locator('#serve-status').textContent(), { timeout: 90_000 }).toMatch(/^Joined as [0-9a-f-]{8}: 1 requests served\.$/);
    await expect.poll(servedModels, { timeout: 30_000 }).toEqual([MODEL_B]);
    expect(await page.getByRole('switch', { name: 'Serve requests' }).getAttribute('aria-checked')).toBe('true');
    expect(await page.locator('#model-status').textContent()).toMatch(new RegExp(`^${MODEL_B} \\([0-9a-f]{8}\\) is ready on wasm`));
    // A chat for the old model is no longer this tab's to answer: no session has it.
    expect(await ask(MODEL)).toEqual(UNSERVED);
    // The new model's chat is answered by this tab, from the new model's weights.
    expect(await ask(MODEL_B)).toEqual({ text: referenceB });
    await expect.poll(() => page.locator('#serve-status').textContent()).toBe(`Serving ${MODEL_B}: 2 requests served.`);

    // And back: the switch follows the picker each time.
    await page.selectOption('#model-select', MODEL);
    await expect.poll(servedModels, { timeout: 90_000 }).toEqual([MODEL]);
    expect(await ask(MODEL_B)).toEqual(UNSERVED);
    expect(await ask(MODEL)).toEqual({ text: reference.text });
    // Off: the tab leaves, and says so.
    await page.getByRole('switch', { name: 'Serve requests' }).click();
    await expect.poll(() => page.locator('#serve-status').textContent()).toBe('Off. 3 requests served.');
    await expect.poll(servedModels, { timeout: 30_000 }).toEqual([]);
    expect(errors).toEqual([]);
  }, 240_000);

  it('ends the stream with an error, not a short answer, when the serving tab closes mid-stream', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await servingTab(page);
    const stream = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 200, stream: true });
    let text = '';
    let closed: Promise<void> | undefined;
    let finish: string | null | undefined;
    const read = (async () => {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (text.length > 0 && !closed) closed = page.close({ runBeforeUnload: false });
      }
    })();
    await expect(read).rejects.toMatchObject({ error: { code: expect.stringMatching(/^(session-closed|unavailable)$/) } });
    await closed;
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBeUndefined();
  }, 120_000);

  it('tessera.serve({ token, model }) on a page of another origin serves chat the same way', async () => {
    const blog = await otherOrigin({
      '/': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Someone's blog</title>
        <script type="module" src="${host.url}/embed.js"></script></head><body><main><h1>Lending my tab</h1></main></body></html>`,
    });
    try {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${blog.url}/`);
      await page.waitForFunction(() => 'tessera' in window);
      await page.evaluate(async ({ token, model }) => {
        const t = (window as unknown as { tessera: TesseraApi }).tessera;
        const w = window as unknown as { served: number; session: unknown };
        w.served = 0;
        w.session = await t.serve({ token, model, onServed: () => (w.served += 1) });
      }, { token: host.joinToken, model: MODEL });
      await expect.poll(async () => (await client.models.list()).data.find((m) => m.id === MODEL), { timeout: 30_000 }).toMatchObject({ task: 'text-generation', context_length: reference.contextLength });
      const answer = await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: MAX_TOKENS });
      expect(answer.choices[0]?.message.content).toBe(reference.text);
      expect(await page.evaluate(() => (window as unknown as { served: number }).served)).toBe(1);

      // The page disposes its generator: the tab leaves the model's pool rather than answer without it.
      await page.evaluate(async (model) => (await (window as unknown as { tessera: TesseraApi }).tessera.generator(model)).dispose(), MODEL);
      await expect.poll(servedModels, { timeout: 30_000 }).toEqual([]);
      expect(await ask(MODEL)).toEqual(UNSERVED);
    } finally {
      await blog.close();
    }
  }, 120_000);
});
