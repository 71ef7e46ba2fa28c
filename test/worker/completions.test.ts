/**
 * The OpenAI text-generation routes in workerd: request validation (every
 * 400 is answered before any session sees the request), and the raw SSE
 * framing of a streamed answer from a real session client joined through
 * the Worker (the simulated generator). The openai-client tests against
 * `wrangler dev` are in test/e2e/generation-wrangler.test.ts.
 */
import { SELF, createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { createApp } from '../../worker/app.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedGenerationOffers, simulatedGenerator } from '../../src/cli/commands/serve-generation.ts';
import { connectSession, type RunGenerate, type SessionClient, type SessionClientEvent } from '../../src/transport/session-client.ts';
import { checkAgainstModel, MAX_TOKENS_LIMIT, parseChatRequest, parseCompletionRequest } from '../../worker/lib/parse-completion-request.ts';
import { SelfWebSocket } from './self-websocket.ts';

const BASE = 'https://tessera.test';
const auth = { Authorization: 'Bearer test-key-1' };
const sessions: SessionClient[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

async function join(model: string, events: SessionClientEvent[], runGenerate: RunGenerate = simulatedGenerator(1)): Promise<void> {
  const s = connectSession({
    url: `${BASE}/v1/sessions`, token: 'test-join-token', models: simulatedGenerationOffers([model]), device: 'test',
    capacity: { maxInFlight: 1, requestsPerSecond: 10 }, runModel: () => Promise.reject(new Error('no infer')),
    runGenerate, WebSocket: SelfWebSocket, onEvent: (e) => events.push(e),
  });
  sessions.push(s);
  await s.joined();
}

const post = (path: string, body: unknown): Promise<Response> =>
  SELF.fetch(`${BASE}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth }, body: JSON.stringify(body) });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; details?: { param?: string } } }).error;

describe('OpenAI completions routes in workerd', () => {
  it('converts OpenAI bodies to a GenerateRequest and refuses malformed ones', () => {
    expect(parseChatRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], max_tokens: 5, top_p: 0.5, temperature: 0, seed: 1, stop: 'x', stream: true, stream_options: { include_usage: true } }))
      .toEqual({ model: 'm', stream: true, includeUsage: true, request: { messages: [{ role: 'user', content: 'ab' }], maxNewTokens: 5, topP: 0.5, temperature: 0, seed: 1, stop: ['x'] } });
    expect(parseCompletionRequest({ model: 'm', prompt: ['p'], max_completion_tokens: 3 })).toEqual({ model: 'm', stream: false, includeUsage: false, request: { prompt: 'p', maxNewTokens: 3 } });
    const param = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return (err as { status: number; details: { param?: string } }).status === 400 ? (err as { details: { param?: string } }).details.param : 'not a 400';
      }
      return 'accepted';
    };
    expect(param(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 3 }))).toBe('temperature');
    expect(param(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }))).toBe('stop');
    expect(param(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: MAX_TOKENS_LIMIT + 1 }))).toBe('max_tokens');
    expect(param(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }] }))).toBe('model');
    expect(param(() => parseCompletionRequest({ model: 'm', prompt: '' }))).toBe('prompt');
    const model = { ...simulatedGenerationOffers(['m'])[0]!, sessions: 1 };
    expect(param(() => checkAgainstModel(parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'é'.repeat(4096) }] }), model))).toBe('messages');
    expect(param(() => checkAgainstModel(parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'é'.repeat(100) }] }), model))).toBe('accepted');
    expect(param(() => checkAgainstModel(parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }), { name: 'ocr', revision: 'r', maxBatch: 1, sessions: 1 }))).toBe('model');
  });

  it('answers 400 with a code before any session sees the request', async () => {
    const events: SessionClientEvent[] = [];
    await join('wsim', events);
    const cases: [string, unknown, string][] = [
      ['/v1/chat/completions', { model: 'wsim' }, 'messages'],
      ['/v1/chat/completions', { model: 'wsim', messages: [] }, 'messages'],
      ['/v1/chat/completions', { model: 'wsim', messages: [{ role: 'robot', content: 'x' }] }, 'messages'],
      ['/v1/chat/completions', { model: 'wsim', messages: [{ role: 'user', content: 'x' }], n: 3 }, 'n'],
      ['/v1/chat/completions', { model: 'wsim', messages: [{ role: 'user', content: 'x' }], max_tokens: 2000 }, 'max_tokens'],
      ['/v1/chat/completions', { model: 'missing', messages: [{ role: 'user', content: 'x' }] }, 'model'],
      ['/v1/completions', { model: 'wsim', prompt: 'y'.repeat(8192) }, 'prompt'],
      ['/v1/completions', { model: 'wsim' }, 'prompt'],
    ];
    for (const [path, body, param] of cases) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe('bad-request');
      expect(error.details?.param).toBe(param);
    }
    expect(events.filter((e) => e.type === 'generate')).toEqual([]);
  });

  it('streams server-sent events: role, deltas, finish_reason, usage, [DONE]', async () => {
    await join('wsim2', []);
    const res = await post('/v1/chat/completions', { model: 'wsim2', messages: [{ role: 'user', content: 'ab' }], max_tokens: 3, stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id)).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('aba');
    expect(chunks.at(-2).choices[0].finish_reason).toBe('length');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 } });
  });

  it('cancels the generation on its session when the client leaves before the first token', async () => {
    const events: SessionClientEvent[] = [];
    // Takes the request and produces nothing until cancelled.
    await join('wslow', events, (_m, _r, _c, signal) => new Promise((_res, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })));
    // The request's signal is what workerd aborts on Cloudflare when the HTTP client disconnects.
    const controller = new AbortController();
    const ctx = createExecutionContext();
    const body = JSON.stringify({ model: 'wslow', messages: [{ role: 'user', content: 'x' }], stream: true });
    const response = Promise.resolve(createApp().fetch(new Request(`${BASE}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth }, body, signal: controller.signal }), env, ctx));
    for (let i = 0; i < 400 && !events.some((e) => e.type === 'generate'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(events.some((e) => e.type === 'generate')).toBe(true);
    controller.abort();
    const res = await response;
    // The coordinator answered the caller `aborted` (a 503 nobody reads) and sent the session a cancel.
    expect(res.status).toBe(503);
    await waitOnExecutionContext(ctx);
    for (let i = 0; i < 400 && !events.some((e) => e.type === 'generated'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(events.find((e) => e.type === 'generated')).toMatchObject({ outcome: 'cancelled', chunks: 0 });
  });
});
