/**
 * Reads the Worker's `/dashboard/events` server-sent events with `fetch`, not
 * `EventSource`: EventSource cannot send an `Authorization` header, and the
 * token it would need otherwise (a query parameter) ends up in logs and
 * history. The SSE framing is parsed by `eventsource-parser`.
 *
 * The connection is kept up: when it drops (network, Worker restart, the
 * directory object moving), it is opened again after a backoff with full
 * jitter, and the feed's first event on every connection is a full snapshot,
 * so the page's state is whole again after one event. A 401 stops it (the
 * token is wrong: asking again would not help).
 */
import { createParser } from 'eventsource-parser';
import type { DirectoryFeedEvent } from '../coordinator/pool-summary.ts';

export type FeedStatus =
  | { type: 'connecting'; attempt: number }
  | { type: 'live' }
  | { type: 'retrying'; inMs: number; reason: string }
  | { type: 'unauthorized' }
  | { type: 'stopped' };

export interface FeedOptions {
  /** `/dashboard/events` on the Worker. */
  url: string;
  /** The admin token or an API key with the `dashboard` scope. */
  token: string;
  onEvent(event: DirectoryFeedEvent): void;
  onStatus(status: FeedStatus): void;
  signal: AbortSignal;
  fetch?: typeof fetch;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Backoff before the n-th retry: min(maxMs, baseMs * 2^n) * random (full jitter). */
  backoff?: { baseMs: number; maxMs: number };
  /**
   * A connection that sends nothing for this long is taken as dropped (default
   * 45 s: the Worker writes a keep-alive comment every 15 s). A link that dies
   * without a FIN (a laptop's Wi-Fi, a NAT timing out) is noticed this way.
   */
  staleMs?: number;
}

const FEED_TYPES = new Set(['snapshot', 'pool', 'pool-gone', 'prewarm']);

/**
 * One SSE `data` payload as a feed event, or undefined for anything else
 * (not JSON, no known `type`): a newer Worker's new kinds are skipped.
 *
 * @example parseFeedEvent('{"type":"pool-gone","pool":"mlp","at":1}');
 */
export function parseFeedEvent(data: string): DirectoryFeedEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && FEED_TYPES.has(type) ? (value as DirectoryFeedEvent) : undefined;
}

/**
 * Runs until `signal` aborts or the token is refused.
 *
 * @example
 * const controller = new AbortController();
 * void followFeed({ url: '/dashboard/events', token, signal: controller.signal, onEvent: apply, onStatus: show });
 */
export async function followFeed(options: FeedOptions): Promise<void> {
  const fetchFn = options.fetch ?? fetch.bind(globalThis);
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const { baseMs, maxMs } = options.backoff ?? { baseMs: 500, maxMs: 15_000 };
  let failures = 0;
  while (!options.signal.aborted) {
    options.onStatus({ type: 'connecting', attempt: failures + 1 });
    let reason: string;
    try {
      const res = await fetchFn(options.url, {
        headers: { Authorization: `Bearer ${options.token}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: options.signal,
      });
      if (res.status === 401) {
        await res.body?.cancel();
        options.onStatus({ type: 'unauthorized' });
        return;
      }
      if (!res.ok || res.body === null) {
        reason = `${res.status} ${await errorMessageOf(res)}`;
      } else {
        const gotEvents = await readEvents(res.body, options);
        // A connection that delivered its snapshot was healthy: start the backoff afresh.
        if (gotEvents) failures = 0;
        reason = 'the feed ended';
      }
    } catch (error) {
      if (options.signal.aborted) break;
      reason = error instanceof Error ? error.message : String(error);
    }
    if (options.signal.aborted) break;
    const inMs = Math.round(Math.min(maxMs, baseMs * 2 ** failures) * random());
    failures += 1;
    options.onStatus({ type: 'retrying', inMs, reason });
    await sleep(inMs, options.signal).catch(() => undefined);
  }
  options.onStatus({ type: 'stopped' });
}

/** Feeds the body through the SSE parser; true if at least one feed event arrived. */
async function readEvents(body: ReadableStream<Uint8Array>, options: FeedOptions): Promise<boolean> {
  let got = false;
  let failed: string | undefined;
  const parser = createParser({
    onEvent(message) {
      if (message.event === 'error') {
        // The Worker names why the feed ends (the directory went away) before it closes.
        failed = message.data;
        return;
      }
      const event = parseFeedEvent(message.data);
      if (event === undefined) return;
      if (!got) options.onStatus({ type: 'live' });
      got = true;
      options.onEvent(event);
    },
  });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = () => void reader.cancel().catch(() => undefined);
  options.signal.addEventListener('abort', cancel, { once: true });
  const staleMs = options.staleMs ?? 45_000;
  let stale = false;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      stale = true;
      cancel();
    }, staleMs);
  };
  try {
    arm();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arm();
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    clearTimeout(watchdog);
    options.signal.removeEventListener('abort', cancel);
  }
  if (stale) throw new Error(`nothing arrived for ${staleMs >= 1000 ? `${Math.round(staleMs / 1000)} s` : `${staleMs} ms`}`);
  if (failed !== undefined) throw new Error(errorTextOf(failed));
  return got;
}

async function errorMessageOf(res: Response): Promise<string> {
  try {
    return errorTextOf(await res.text());
  } catch {
    return res.statusText;
  }
}

function errorTextOf(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: show it as it came
  }
  return text.slice(0, 200);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
