/**
 * worker/routes/dashboard.ts with a feed we control (the directory object is
 * exercised for real in the wrangler dev test, test/e2e/dashboard-wrangler.test.ts).
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv, Env } from '../../worker/env.ts';
import { HttpError } from '../../worker/http-error.ts';
import { dashboardRoutes } from '../../worker/routes/dashboard.ts';

const env = { TESSERA_ADMIN_TOKEN: 'admin', TESSERA_API_KEYS: 'infer, ops dashboard' } as unknown as Env;

/** A feed the test writes to line by line; `cancelled` once the relay let go of it. */
function controlledFeed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: () => void (state.cancelled = true),
  });
  const encoder = new TextEncoder();
  return {
    stream,
    state,
    write: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
    fail: () => controller.error(new Error('directory evicted')),
  };
}

function appWith(feed: (env: Env) => Promise<ReadableStream<Uint8Array>>, keepAliveMs = 60_000) {
  const app = new Hono<AppEnv>();
  app.route('/', dashboardRoutes({ feed, keepAliveMs, snapshot: async () => ({ at: 1, pools: [], prewarm: [] }) }));
  app.onError((error) => (error instanceof HttpError ? error.getResponse() : new Response(String(error), { status: 500 })));
  return app;
}

async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, text: { value: string }, needle: string): Promise<void> {
  const decoder = new TextDecoder();
  while (!text.value.includes(needle)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before ${JSON.stringify(needle)}; got ${JSON.stringify(text.value)}`);
    text.value += decoder.decode(value, { stream: true });
  }
}

describe('GET /dashboard/events', () => {
  it('refuses a missing, wrong or inference-only key before opening the feed', async () => {
    let opened = 0;
    const app = appWith(async () => {
      opened += 1;
      return controlledFeed().stream;
    });
    for (const auth of [undefined, 'Bearer nope', 'Bearer infer']) {
      const res = await app.request('/dashboard/events', auth ? { headers: { Authorization: auth } } : {}, env);
      expect(res.status).toBe(401);
      expect((await res.json()) as unknown).toMatchObject({ error: { code: 'unauthorized' } });
    }
    expect(opened).toBe(0);
  });

  it('relays each feed line as one SSE data event as it arrives, keeps alive, and says why when the feed ends', async () => {
    const feed = controlledFeed();
    const res = await appWith(async () => feed.stream, 20).request('/dashboard/events', { headers: { Authorization: 'Bearer ops' } }, env);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const text = { value: '' };
    feed.write('{"type":"snapshot","snapshot":{"at":1,"pools":[],"prewarm":[]}}\n{"type":"pool-');
    await readUntil(reader, text, '"prewarm":[]}}\n\n');
    expect(text.value).toBe('data: {"type":"snapshot","snapshot":{"at":1,"pools":[],"prewarm":[]}}\n\n');
    feed.write('gone","pool":"mlp","at":2}\n');
    await readUntil(reader, text, '"at":2}');
    await readUntil(reader, text, ': keep-alive\n\n');
    feed.end();
    await readUntil(reader, text, 'event: error');
    await readUntil(reader, text, 'reconnect for a fresh snapshot"}}\n\n');
    expect(text.value).toContain('data: {"type":"pool-gone","pool":"mlp","at":2}\n\n');
    expect((await reader.read()).done).toBe(true);
  });

  it('a feed that fails mid-stream ends with an error event, not silently', async () => {
    const feed = controlledFeed();
    const res = await appWith(async () => feed.stream).request('/dashboard/events', { headers: { Authorization: 'Bearer admin' } }, env);
    const reader = res.body!.getReader();
    const text = { value: '' };
    feed.write('{"type":"snapshot","snapshot":{"at":1,"pools":[],"prewarm":[]}}\n');
    await readUntil(reader, text, '\n\n');
    feed.fail();
    await readUntil(reader, text, "feed failed; reconnect");
    expect(text.value).toContain('event: error\ndata: {"error":{"code":"unavailable"');
  });

  it('cancels the directory feed when the client leaves', async () => {
    const feed = controlledFeed();
    const res = await appWith(async () => feed.stream).request('/dashboard/events', { headers: { Authorization: 'Bearer admin' } }, env);
    const reader = res.body!.getReader();
    feed.write('{"type":"snapshot","snapshot":{"at":1,"pools":[],"prewarm":[]}}\n');
    await reader.read();
    await reader.cancel();
    for (let i = 0; i < 50 && !feed.state.cancelled; i++) await new Promise((r) => setTimeout(r, 10));
    expect(feed.state.cancelled).toBe(true);
  });

  it('GET /dashboard/snapshot answers the directory\'s state as JSON, behind the same auth', async () => {
    const app = appWith(async () => controlledFeed().stream);
    expect((await app.request('/dashboard/snapshot', {}, env)).status).toBe(401);
    const res = await app.request('/dashboard/snapshot', { headers: { Authorization: 'Bearer ops' } }, env);
    expect(res.status).toBe(200);
    expect((await res.json()) as unknown).toEqual({ at: 1, pools: [], prewarm: [] });
  });

  it('answers 503 with a JSON error when the directory cannot be reached', async () => {
    const res = await appWith(async () => {
      throw new Error('no such object');
    }).request('/dashboard/events', { headers: { Authorization: 'Bearer admin' } }, env);
    expect(res.status).toBe(503);
    expect((await res.json()) as unknown).toMatchObject({ error: { code: 'unavailable' } });
  });
});
