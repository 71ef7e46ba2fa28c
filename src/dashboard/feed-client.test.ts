import { describe, expect, it } from 'vitest';
import type { DirectoryFeedEvent } from '../coordinator/pool-summary.ts';
import { followFeed, parseFeedEvent, type FeedStatus } from './feed-client.ts';
import { textStream } from '../../test/helpers/text-stream.ts';


const snapshot = JSON.stringify({ type: 'snapshot', snapshot: { at: 1, pools: [], prewarm: [] } });
const gone = JSON.stringify({ type: 'pool-gone', pool: 'mlp', at: 2 });

describe('parseFeedEvent', () => {
  it('takes the four feed kinds and skips anything else', () => {
    expect(parseFeedEvent(gone)).toEqual({ type: 'pool-gone', pool: 'mlp', at: 2 });
    expect(parseFeedEvent('not json')).toBeUndefined();
    expect(parseFeedEvent('null')).toBeUndefined();
    expect(parseFeedEvent('{"type":"later-kind"}')).toBeUndefined();
  });
});

describe('followFeed', () => {
  it('sends the token as a bearer header, parses events split across chunks, reconnects when the feed ends, and stops on 401', async () => {
    const requests: Request[] = [];
    const bodies = [
      textStream([`data: ${snapshot.slice(0, 10)}`, `${snapshot.slice(10)}\n\n: keep-alive\n\nda`, `ta: ${gone}\n\n`]),
      textStream([`data: ${snapshot}\n\n`]),
    ];
    const fakeFetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      requests.push(new Request(new URL(String(input), 'http://x'), init));
      const body = bodies.shift();
      return body ? new Response(body, { headers: { 'Content-Type': 'text/event-stream' } }) : new Response('{"error":{"code":"unauthorized","message":"no"}}', { status: 401 });
    }) as typeof fetch;
    const events: DirectoryFeedEvent[] = [];
    const statuses: FeedStatus[] = [];
    const sleeps: number[] = [];
    await followFeed({
      url: '/dashboard/events',
      token: 'tok',
      fetch: fakeFetch,
      signal: new AbortController().signal,
      onEvent: (e) => events.push(e),
      onStatus: (s) => statuses.push(s),
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 1,
      backoff: { baseMs: 100, maxMs: 1000 },
    });
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual(['Bearer tok', 'Bearer tok', 'Bearer tok']);
    expect(events.map((e) => e.type)).toEqual(['snapshot', 'pool-gone', 'snapshot']);
    expect(statuses.map((s) => s.type)).toEqual(['connecting', 'live', 'retrying', 'connecting', 'live', 'retrying', 'connecting', 'unauthorized']);
    // Each connection delivered events, so the backoff restarts at its base every time.
    expect(sleeps).toEqual([100, 100]);
  });

  it('backs off exponentially (capped) while the Worker answers errors, says why, and stops when aborted', async () => {
    const controller = new AbortController();
    let calls = 0;
    const fakeFetch = (async () => {
      calls += 1;
      return new Response(JSON.stringify({ error: { code: 'unavailable', message: 'the directory is not reachable' } }), { status: 503 });
    }) as typeof fetch;
    const statuses: FeedStatus[] = [];
    const sleeps: number[] = [];
    await followFeed({
      url: '/dashboard/events',
      token: 't',
      fetch: fakeFetch,
      signal: controller.signal,
      onEvent: () => undefined,
      onStatus: (s) => statuses.push(s),
      sleep: async (ms) => {
        sleeps.push(ms);
        if (sleeps.length === 5) controller.abort();
      },
      random: () => 1,
      backoff: { baseMs: 100, maxMs: 500 },
    });
    expect(calls).toBe(5);
    expect(sleeps).toEqual([100, 200, 400, 500, 500]);
    expect(statuses.find((s) => s.type === 'retrying')).toEqual({ type: 'retrying', inMs: 100, reason: '503 the directory is not reachable' });
    expect(statuses.at(-1)).toEqual({ type: 'stopped' });
  });

  it('treats an `event: error` from the Worker as a drop and reconnects', async () => {
    const controller = new AbortController();
    const bodies = [textStream([`data: ${snapshot}\n\nevent: error\ndata: {"error":{"code":"unavailable","message":"the directory went away"}}\n\n`])];
    const statuses: FeedStatus[] = [];
    await followFeed({
      url: '/dashboard/events',
      token: 't',
      fetch: (async () => new Response(bodies.shift() ?? textStream([]))) as typeof fetch,
      signal: controller.signal,
      onEvent: () => undefined,
      onStatus: (s) => {
        statuses.push(s);
        if (s.type === 'retrying' && statuses.filter((x) => x.type === 'retrying').length === 2) controller.abort();
      },
      sleep: async () => undefined,
      random: () => 0,
    });
    expect(statuses.find((s) => s.type === 'retrying')).toEqual({ type: 'retrying', inMs: 0, reason: 'the directory went away' });
  });

  it('takes a connection that goes silent (no keep-alive) as dropped and reconnects', async () => {
    const controller = new AbortController();
    let calls = 0;
    const statuses: FeedStatus[] = [];
    await followFeed({
      url: '/dashboard/events',
      token: 't',
      // The first connection sends its snapshot, then nothing, and never ends.
      fetch: (async () => {
        calls += 1;
        if (calls > 1) {
          controller.abort();
          throw new Error('aborted');
        }
        return new Response(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode(`data: ${snapshot}\n\n`)) }));
      }) as typeof fetch,
      signal: controller.signal,
      onEvent: () => undefined,
      onStatus: (s) => statuses.push(s),
      sleep: async () => undefined,
      random: () => 0,
      staleMs: 50,
    });
    expect(calls).toBe(2);
    expect(statuses.find((s) => s.type === 'retrying')).toEqual({ type: 'retrying', inMs: 0, reason: 'nothing arrived for 50 ms' });
  });
});
