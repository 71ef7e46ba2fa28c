/**
 * Text generation through the real Worker under `wrangler dev` (workerd, the
 * coordinator Durable Object, hibernatable WebSockets) with Node sessions
 * serving the simulated generator, called with the official `openai` client:
 * streaming and not, chat and completions, usage, stop strings, a client that
 * leaves mid-stream (its session stops generating; a client that leaves
 * before the first token is tested in test/worker/completions.test.ts, as
 * wrangler dev never tells the Worker about it), a session that dies mid-stream (the
 * client gets an error, not a short answer), a request re-dispatched before
 * its first token, 429 + Retry-After, the 400s, and TTFT in /metrics and
 * Server-Timing; admission by deadline for a burst against one slow session
 * (on a second Worker with a deep queue and a short deadline). Then a real decoder: the generated tiny LLaMA-style pack,
 * published and served by `serve()` with the engine's generator, answers
 * exactly what the engine generates in-process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { serve } from '../../src/cli/commands/serve.ts';
import { createEngine } from '../../src/transport/create-engine.ts';
import { simulatedGenerationOffers, simulatedGenerator } from '../../src/cli/commands/serve-generation.ts';
import { connectSession, type RunGenerate, type SessionClient, type SessionClientEvent, type WebSocketConstructor } from '../../src/transport/session-client.ts';
import { writeLlamaFixture } from '../helpers/llama-fixture.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { recordingWebSocket } from '../helpers/recording-websocket.ts';

const JOIN = 'gen-test-join';
const KEY = 'gen-test-key';
const ADMIN = 'gen-test-admin';
let dev: WranglerDev;
let client: OpenAI;
const sessions: SessionClient[] = [];

beforeAll(async () => {
  dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_ADMIN_TOKEN: ADMIN, TESSERA_COORDINATOR_CONFIG: '{"maxDelayMs":0,"queueLimit":1}' } });
  client = new OpenAI({ baseURL: `${dev.base}/v1`, apiKey: KEY, maxRetries: 0 });
}, 60_000);
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await dev?.stop();
});

async function simulated(model: string, tokenMs: number, events: SessionClientEvent[] = []): Promise<SessionClient> {
  const s = await serve({ coordinator: dev.base, models: [model], joinToken: JOIN, simulateTokenMs: tokenMs, onEvent: (e) => events.push(e) });
  sessions.push(s);
  await s.joined();
  return s;
}

function custom(model: string, runGenerate: RunGenerate, opts: { events?: SessionClientEvent[]; Ctor?: WebSocketConstructor; rate?: number } = {}): SessionClient {
  const s = connectSession({
    url: dev.base, token: JOIN, models: simulatedGenerationOffers([model]), device: 'test', capacity: { maxInFlight: 1, requestsPerSecond: opts.rate ?? 10 },
    runModel: () => Promise.reject(new Error('no infer here')), runGenerate, backoff: { baseMs: 5000, maxMs: 5000 },
    onEvent: (e) => opts.events?.push(e), ...(opts.Ctor ? { WebSocket: opts.Ctor } : {}),
  });
  sessions.push(s);
  return s;
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${dev.base}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('OpenAI text generation through the coordinator', () => {
  it('streams chat tokens as they are generated, with finish_reason, usage and [DONE]', async () => {
    await simulated('sim-a', 40);
    const started = performance.now();
    const stream = await client.chat.completions.create({
      model: 'sim-a', messages: [{ role: 'user', content: 'abc' }], max_tokens: 10, stream: true, stream_options: { include_usage: true },
    });
    const arrivals: number[] = [];
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let role: string | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      role ??= choice.delta.role;
      if (choice.delta.content) {
        text += choice.delta.content;
        arrivals.push(performance.now() - started);
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(text).toBe('abcabcabca');
    expect(role).toBe('assistant');
    expect(finish).toBe('length');
    // The simulated tokenizer: one token per code point of 'user: abc\nassistant: '.
    expect(usage).toEqual({ prompt_tokens: 21, completion_tokens: 10, total_tokens: 31 });
    // Never buffered to the end: ten tokens 40 ms apart arrive spread out, not together.
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    expect((arrivals.at(-1) as number) - (arrivals[0] as number)).toBeGreaterThan(200);
  }, 30_000);

  it('answers non-streaming chat and completions, honouring stop strings and seed/temperature/top_p', async () => {
    await simulated('sim-b', 2);
    const chat = await client.chat.completions.create({ model: 'sim-b', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello world' }], max_tokens: 30, stop: ['wor'], temperature: 0.7, top_p: 0.9, seed: 7 });
    expect(chat.object).toBe('chat.completion');
    expect(chat.choices).toHaveLength(1);
    expect(chat.choices[0]).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'hello ' } });
    expect(chat.usage?.completion_tokens).toBe(9);
    const completion = await client.completions.create({ model: 'sim-b', prompt: 'xyz', max_tokens: 5 });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]).toMatchObject({ text: 'xyzxy', finish_reason: 'length' });
    expect(completion.usage).toEqual({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
    // Streamed completions with a stop string: the stop string never streams.
    const stream = await client.completions.create({ model: 'sim-b', prompt: 'one.two', max_tokens: 20, stop: '.t', stream: true });
    let streamed = '';
    for await (const c of stream) streamed += c.choices[0]?.text ?? '';
    expect(streamed).toBe('one');
    const models = await client.models.list();
    expect(models.data.find((m) => m.id === 'sim-b')).toMatchObject({ object: 'model', task: 'text-generation', context_length: 2048 });
  }, 30_000);

  it('cancels the generation on its session when the client disconnects', async () => {
    const events: SessionClientEvent[] = [];
    await simulated('sim-c', 20, events);
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'sim-c', messages: [{ role: 'user', content: 'long' }], max_tokens: 500, stream: true }, { signal: controller.signal });
    let chunks = 0;
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) chunks += 1;
      if (chunks === 3) controller.abort();
    }
    await expect.poll(() => events.find((e) => e.type === 'generated'), { timeout: 5000 }).toBeDefined();
    const generated = events.find((e) => e.type === 'generated') as Extract<SessionClientEvent, { type: 'generated' }>;
    expect(generated.outcome).toBe('cancelled');
    // 500 tokens would take 10 s; the session stopped within a few steps of the abort.
    expect(generated.chunks).toBeLessThan(100);
  }, 30_000);

  it('ends the stream with an error event when the session dies mid-stream', async () => {
    const { Ctor, sockets } = recordingWebSocket();
    const s = custom('sim-d', simulatedGenerator(20), { Ctor });
    await s.joined();
    const stream = await client.chat.completions.create({ model: 'sim-d', messages: [{ role: 'user', content: 'abc' }], max_tokens: 200, stream: true });
    let text = '';
    const read = (async () => {
      for await (const c of stream) {
        text += c.choices[0]?.delta.content ?? '';
        if (text.length === 3) sockets[0]!.close(4000, 'test: session died');
      }
    })();
    await expect(read).rejects.toMatchObject({ error: { code: 'session-closed' } });
    expect(text.length).toBeGreaterThanOrEqual(3);
    expect(text.length).toBeLessThan(200);
  }, 30_000);

  it('re-dispatches a request that had not started to another session', async () => {
    const { Ctor, sockets } = recordingWebSocket();
    const stuckEvents: SessionClientEvent[] = [];
    // Takes the request, never produces a token; the faster declared rate makes it the first choice.
    const stuck = custom('sim-e', (_m, _r, _c, signal) => new Promise((_res, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })), { Ctor, events: stuckEvents, rate: 100 });
    await stuck.joined();
    const answer = client.chat.completions.create({ model: 'sim-e', messages: [{ role: 'user', content: 'hey' }], max_tokens: 4 });
    await expect.poll(() => stuckEvents.some((e) => e.type === 'generate'), { timeout: 5000 }).toBe(true);
    const healthy = custom('sim-e', simulatedGenerator(2));
    await healthy.joined();
    sockets[0]!.close(4000, 'test: dropped before the first token');
    const done = await answer;
    expect(done.choices[0]?.message.content).toBe('heyh');
  }, 30_000);

  it('answers 429 with Retry-After when the queue is full, before any stream starts', async () => {
    await simulated('sim-f', 50);
    const long = { model: 'sim-f', messages: [{ role: 'user', content: 'q' }], max_tokens: 20 };
    const running = post('/v1/chat/completions', long);
    await new Promise((r) => setTimeout(r, 200));
    const queued = post('/v1/chat/completions', long);
    await new Promise((r) => setTimeout(r, 100));
    const full = await post('/v1/chat/completions', { ...long, stream: true });
    expect(full.status).toBe(429);
    expect(Number(full.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(((await full.json()) as any).error.code).toBe('rate-limited');
    expect((await running).status).toBe(200);
    expect((await queued).status).toBe(200);
  }, 30_000);

  it('refuses bad input with 400 and a code before any session sees it', async () => {
    const events: SessionClientEvent[] = [];
    await simulated('sim-g', 1, events);
    const cases: [unknown, string][] = [
      [{ model: 'sim-g' }, 'messages'],
      [{ model: 'sim-g', messages: [] }, 'messages'],
      [{ model: 'sim-g', messages: [{ role: 'wizard', content: 'x' }] }, 'messages'],
      [{ model: 'sim-g', messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n'],
      [{ model: 'sim-g', messages: [{ role: 'user', content: 'x' }], max_tokens: 5000 }, 'max_tokens'],
      [{ model: 'sim-g', messages: [{ role: 'user', content: 'x' }], max_tokens: 1500 }, 'max_tokens'],
      [{ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, 'model'],
      [{ model: 'sim-g', messages: [{ role: 'user', content: 'x'.repeat(9000) }] }, 'messages'],
    ];
    for (const [body, param] of cases) {
      const res = await post('/v1/chat/completions', body);
      const json = (await res.json()) as any;
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(json.error.code).toBe('bad-request');
      expect(json.error.details?.param).toBe(param);
    }
    expect(events.filter((e) => e.type === 'generate')).toHaveLength(0);
    // Under the Worker's provable bound but past the context once tokenized: the session refuses it, still a 400.
    const res = await post('/v1/chat/completions', { model: 'sim-g', messages: [{ role: 'user', content: 'x'.repeat(2100) }], stream: true });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('invalid-argument');
    await expect(client.chat.completions.create({ model: 'sim-g', messages: [] })).rejects.toMatchObject({ status: 400 });
  }, 30_000);

  it('reports time to first token in Server-Timing on traced requests and in /metrics', async () => {
    await simulated('sim-h', 30);
    const res = await post('/v1/chat/completions', { model: 'sim-h', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true }, { 'X-Tessera-Timing': '1' });
    expect(res.status).toBe(200);
    const timing = res.headers.get('Server-Timing') ?? '';
    expect(timing).toMatch(/ttft;dur=\d+/);
    const ttft = Number(/ttft;dur=(\d+(?:\.\d+)?)/.exec(timing)?.[1]);
    const sessionTtft = Number(/session-ttft;dur=(\d+(?:\.\d+)?)/.exec(timing)?.[1]);
    // The first token takes one 30 ms step at the session; the coordinator's view includes it.
    expect(sessionTtft).toBeGreaterThanOrEqual(25);
    expect(ttft).toBeGreaterThanOrEqual(sessionTtft - 1);
    const body = await res.text();
    expect(body.trim().endsWith('data: [DONE]')).toBe(true);
    // /metrics reads the directory, which hears from the model's pool within about a second.
    const metrics = () => fetch(`${dev.base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } }).then((r) => r.text());
    await expect.poll(metrics, { timeout: 5000 }).toMatch(/tessera_time_to_first_token_seconds_count\{model="sim-h",pool="sim-h"\} 1\n/);
    expect(await metrics()).toMatch(/tessera_generated_tokens_total\{model="sim-h",pool="sim-h"\} 3\n/);
  }, 30_000);

  it('serves a real decoder pack: greedy output through the Worker equals the engine in-process, usage from its tokenizer', async () => {
    const fx = await writeLlamaFixture();
    const cacheDir = await mkdtemp(join(tmpdir(), 'tessera-gen-cache-'));
    try {
      await publishDir(fx.packDir, { baseUrl: dev.base, token: ADMIN });
      const name = 'tiny-llama';
      const session = await serve({ coordinator: dev.base, models: [name], joinToken: JOIN, cache: { type: 'fs', dir: cacheDir } });
      sessions.push(session);
      await session.joined();
      const messages = [{ role: 'user' as const, content: 'Hello there' }];
      const engine = await createEngine({ transport: 'in-process' });
      const { revision } = (await (await fetch(`${dev.base}/models/${name}/manifest.json`)).json()) as { revision: string };
      const local = await engine.loadGenerator(`${dev.base}/models/${name}/${revision}/manifest.json`, { cache: { type: 'memory' } });
      const expected = await local.generate({ messages, maxNewTokens: 12 }).result;
      const promptTokens = await local.countTokens(messages);
      expect(expected.completionTokens).toBeGreaterThan(0);
      expect(expected.text.length).toBeGreaterThan(0);
      const models = await client.models.list();
      expect(models.data.find((m) => m.id === name)).toMatchObject({ task: 'text-generation', context_length: local.contextLength });
      // The offer carries the tokenizer's longest token, so the Worker refuses a prompt that provably cannot fit.
      const tooLong = await post('/v1/chat/completions', { model: name, messages: [{ role: 'user', content: 'x'.repeat(local.contextLength * 64) }] });
      expect(tooLong.status).toBe(400);
      expect(((await tooLong.json()) as any).error).toMatchObject({ code: 'bad-request', details: { param: 'messages' } });
      const chat = await client.chat.completions.create({ model: name, messages, max_tokens: 12, temperature: 0 });
      expect(chat.choices[0]?.message.content).toBe(expected.text);
      expect(chat.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: expected.completionTokens, total_tokens: promptTokens + expected.completionTokens });
      const stream = await client.chat.completions.create({ model: name, messages, max_tokens: 12, stream: true });
      let streamed = '';
      for await (const c of stream) streamed += c.choices[0]?.delta.content ?? '';
      expect(streamed).toBe(expected.text);
      // Past the context once tokenized: refused by the session before a step runs.
      const long = await post('/v1/chat/completions', { model: name, messages: [{ role: 'user', content: 'Hello '.repeat(local.contextLength) }] });
      expect(long.status).toBe(400);
      await local.dispose();
      await engine.dispose();
    } finally {
      await fx.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('generation admission by deadline through the Worker', () => {
  // Its own Worker: the one above holds a queue of 1, and this needs a deep queue and a short deadline.
  const DEADLINE_MS = 3000;
  let deep: WranglerDev;
  beforeAll(async () => {
    deep = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: JSON.stringify({ maxDelayMs: 0, queueLimit: 64, requestTimeoutMs: DEADLINE_MS }) } });
  }, 60_000);
  afterAll(async () => {
    await deep?.stop();
  });

  it('refuses at once, with Retry-After, a burst of generations one slow session cannot start by their deadline, while the admitted ones finish', async () => {
    // 8 tokens at 50 ms: about 0.4 s a generation on one slot, so about 6 of a burst can start within 0.8 x 3 s.
    const s = await serve({ coordinator: deep.base, models: ['sim-slow'], joinToken: JOIN, simulateTokenMs: 50 });
    sessions.push(s);
    await s.joined();
    const ask = async (): Promise<{ status: number; ms: number; retryAfter: string | null; body: any }> => {
      const start = performance.now();
      const res = await fetch(`${deep.base}/v1/chat/completions`, {
        method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'sim-slow', messages: [{ role: 'user', content: 'q' }], max_tokens: 8 }),
      });
      const body = await res.json();
      return { status: res.status, ms: performance.now() - start, retryAfter: res.headers.get('Retry-After'), body };
    };
    // A cold pool admits by the queue limit alone; these measure the session's pace.
    for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 30 }, () => ask()));
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    // Nothing waits out its deadline: every answer is a result or an immediate 429.
    expect(answers.map((a) => a.status).filter((st) => st !== 200 && st !== 429)).toEqual([]);
    expect(ok.length).toBeGreaterThanOrEqual(3);
    expect(limited.length).toBeGreaterThanOrEqual(15);
    for (const a of ok) expect(a.body.choices[0].message.content).toBe('qqqqqqqq');
    for (const a of limited) {
      // Refused by the pool's deadline estimate, or, once the pool has refused one, by the
      // Worker's saturation hint on that refusal (worker/lib/saturation-hint.ts), whichever came first.
      const { details } = a.body.error;
      expect(a.body.error.code).toBe('rate-limited');
      expect(details.waitedMs).toBe(0);
      expect(details.reason === 'deadline' || (details.reason === 'saturated-hint' && details.poolReason === 'deadline')).toBe(true);
      expect(a.body.error.details.ratePerSecond).toBeGreaterThan(0);
      // Retry-After from the estimate: whole seconds, no more than a deadline's worth here.
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(DEADLINE_MS / 1000);
      expect(a.retryAfter).toBe(String(a.body.error.details.retryAfterSeconds));
    }
    // Refused at submit, not after a wait: every 429 is back before the slowest admitted answer.
    // (About 0.3 s here for the whole burst's intake through wrangler dev; the bound leaves room for a loaded machine.)
    const refusedMs = limited.map((a) => a.ms).sort((x, y) => x - y);
    expect(refusedMs[Math.floor(refusedMs.length / 2)]).toBeLessThan(1000);
    expect(refusedMs.at(-1)).toBeLessThan(Math.max(...ok.map((a) => a.ms)));
  }, 60_000);
});
