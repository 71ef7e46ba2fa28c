/**
 * The coordinator under overload with a real OCR session (bench:coordinator's
 * last sections): the built-in `ppocr-v4` pack published to the Worker under
 * `wrangler dev`, one `tessera serve --models ppocr-v4` process reading
 * public/demo/hello.png through KServe v1.
 *
 * - burst: N concurrent predicts against the one session. Admission by
 *   deadline should answer what cannot finish in time with 429 at once
 *   (target: 0 timeouts, every 429 within 100 ms).
 * - abandoned: M clients that disconnect after 300 ms, then one good request;
 *   cancellation should take the abandoned ones out of the queue (target: its
 *   latency within 2x of an idle request's).
 *
 * Transports (`transport`):
 * - `wrangler` (default): the Worker under `wrangler dev`, through its Node
 *   proxy (or, with `direct`, on the runtime port behind it).
 * - `direct`: the same Worker bundle on workerd's own socket, with no proxy
 *   and no entry worker (bench/lib/direct-worker.ts), as Cloudflare reaches it.
 *
 * How an abandoning client closes (`abandonClose`) decides what local workerd
 * sees. A graceful close (`fin`, what `req.destroy()` sends) is an HTTP/1.1
 * half-close: workerd keeps waiting to answer and request.signal never fires.
 * A reset (`rst`) fires request.signal on workerd's own socket and on
 * wrangler's runtime port, but not through wrangler dev's Node proxy. On
 * Cloudflare the edge reports either as a disconnect. Defaults: `fin` under
 * wrangler (as before), `rst` on the direct socket.
 *
 * The session's rate is measured with a short sequential warm-up first, as
 * in a pool that has been serving.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { prepareDefaultModel, DEFAULT_MODEL } from '../../src/cli/commands/prepare.ts';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { startWranglerDev } from '../../test/helpers/wrangler-dev.ts';
import { startDirectWorker } from './direct-worker.ts';
import { percentile } from './stats.ts';
import { runtimeUrl } from './runtime-url.ts';
import { startServeProcess } from './serve-process.ts';
import { HINT_REASON } from '../../worker/lib/saturation-hint.ts';

const JOIN = 'bench-ocr-join';
const KEY = 'bench-ocr-key';
const ADMIN = 'bench-ocr-admin';
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

export interface OcrOverloadOptions {
  /** Repository root (the pack is built under <root>/.tessera, as npm start does). */
  root: string;
  burst: number;
  abandoned: number;
  /** How long an abandoning client waits before it disconnects. */
  abandonAfterMs?: number;
  warmup?: number;
  /** Extra `tessera serve` flags for the session (e.g. `--threads 1`). */
  sessionFlags?: string[];
  /** Send the burst to the Worker's runtime port, past wrangler dev's proxy hop (as a deployed Worker has none). */
  direct?: boolean;
  /** `wrangler` (default): under `wrangler dev`; `direct`: on workerd's own socket (bench/lib/direct-worker.ts). */
  transport?: OcrTransport;
  /** How abandoning clients close: `fin` (graceful) or `rst` (reset). Default: `fin` under wrangler, `rst` on the direct socket. */
  abandonClose?: AbandonClose;
}

export type OcrTransport = 'wrangler' | 'direct';
export type AbandonClose = 'fin' | 'rst';

export interface OcrOverloadReport {
  /** Where the requests went: wrangler dev's public port, its runtime port, or workerd's own socket. */
  via: 'wrangler-proxy' | 'wrangler-runtime' | 'direct-socket';
  serviceMsP50: number;
  burst: { requests: number; answered: number; rateLimited: number; rateLimitedWithRetryAfter: number; timeouts: number; otherErrors: number; lost: number;
    answeredP50Ms: number; answeredMaxMs: number; rateLimitedP50Ms: number; rateLimitedP99Ms: number; rateLimitedMaxMs: number; rateLimitedWithin100Ms: number; wallMs: number;
    /** The 429s by who refused: the Worker's saturation hint (worker/lib/saturation-hint.ts, before the body is read) or the pool object. */
    refusedBy: Record<'hint' | 'pool', LatencySplit> };
  abandoned: { requests: number; close: AbandonClose; idleMs: number; afterMs: number; ratio: number; queueDepthBefore: number };
  /** Where the 429s' time went, and how the coordinator's rate estimate moved (see breakdown()). */
  phases: BurstPhases;
}

export interface BurstPhases {
  /** 429s by the coordinator's reason: `deadline` (at submit), `queue-full` (at submit), `measured-rate` (shed while queued). */
  byReason: Record<string, { count: number; waitedP50Ms: number; waitedMaxMs: number; clientP50Ms: number; clientMaxMs: number; ratePerSecondMin: number; ratePerSecondMax: number }>;
  /** Client-side: ms after the burst started that the last request was handed to the socket, and when the first and last 429 arrived. */
  lastSentMs: number;
  first429Ms: number;
  last429Ms: number;
  /** Pool view: when the coordinator first held every burst request (queued + in flight + answered), and when its 429 count first and last rose. */
  allArrivedMs: number;
  first429DecidedMs: number;
  last429DecidedMs: number;
  /** Answers per second over the burst (client side), by second: the rate the session really served. */
  servedPerSecond: number[];
  /**
   * The same number of concurrent GET /v2/health/live on the same stack just
   * before (no admission, no compute): what any answer costs under a burst of
   * that many connections, the floor under the 429s' latency.
   */
  floorP50Ms: number;
  floorP99Ms: number;
}

export interface LatencySplit { count: number; p50Ms: number; p99Ms: number; maxMs: number; within100Ms: number }

function splitOf(ms: number[]): LatencySplit {
  return { count: ms.length, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: ms.length ? Math.max(...ms) : NaN, within100Ms: ms.filter((x) => x <= 100).length };
}

interface Answer {
  status: number;
  /** Client latency: request() called to the response's end. */
  ms: number;
  /** When request() was called and when the response ended, ms of performance.now(). */
  startedAt: number;
  endedAt: number;
  retryAfter?: string;
  /** A 429's error details (why it was refused, how long it had waited in the coordinator). */
  details?: Record<string, unknown>;
  lost?: boolean;
}

/** One predict; `abortAfterMs` closes the connection (the client goes away), gracefully or with a reset. */
function predict(base: string, body: string, abortAfterMs?: number, close: AbandonClose = 'fin'): Promise<Answer> {
  return call(`${base}/v1/models/${DEFAULT_MODEL}:predict`, body, abortAfterMs, close);
}

function call(url: string, body: string | undefined, abortAfterMs?: number, close: AbandonClose = 'fin'): Promise<Answer> {
  const started = performance.now();
  const lost = (): Answer => ({ status: 0, ms: performance.now() - started, startedAt: started, endedAt: performance.now(), lost: true });
  return new Promise((resolve) => {
    const req = request(url, {
      method: body === undefined ? 'GET' : 'POST', agent,
      headers: { Authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => { if (res.statusCode === 429) chunks.push(d); });
      res.on('end', () => {
        const endedAt = performance.now();
        let details: Record<string, unknown> | undefined;
        try {
          if (chunks.length) details = (JSON.parse(Buffer.concat(chunks).toString()) as { error?: { details?: Record<string, unknown> } }).error?.details;
        } catch { /* a non-JSON 429 has no details */ }
        resolve({
          status: res.statusCode ?? 0, ms: endedAt - started, startedAt: started, endedAt,
          ...(res.headers['retry-after'] ? { retryAfter: String(res.headers['retry-after']) } : {}), ...(details ? { details } : {}),
        });
      });
      res.on('error', () => resolve(lost()));
    });
    req.on('error', () => resolve(lost()));
    if (abortAfterMs !== undefined) {
      if (close === 'fin') setTimeout(() => req.destroy(), abortAfterMs);
      // A reset needs the socket itself (req.destroy() closes gracefully).
      else req.once('socket', (socket) => setTimeout(() => socket.resetAndDestroy(), abortAfterMs));
    }
    req.end(body);
  });
}

/** The coordinator's own view, from /metrics: queued, in flight, and answers so far by status. */
interface PoolView { queued: number; inFlight: number; answered: Record<string, number> }

async function poolView(base: string): Promise<PoolView> {
  const text = await (await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).text();
  const ours = text.split('\n').filter((l) => l.includes(`model="${DEFAULT_MODEL}"`));
  const gauge = (name: string): number => Number(ours.find((l) => l.startsWith(`${name}{`))?.split(' ').pop() ?? 0);
  const answered: Record<string, number> = {};
  for (const l of ours.filter((x) => x.startsWith('tessera_requests_total{'))) {
    const status = /status="([^"]+)"/.exec(l)?.[1];
    if (status) answered[status] = Number(l.split(' ').pop());
  }
  return { queued: gauge('tessera_queue_depth'), inFlight: gauge('tessera_in_flight'), answered };
}

async function queueDepth(base: string): Promise<number> {
  return (await poolView(base)).queued;
}

/**
 * Polls the pool every `everyMs` until stopped: when requests reached the
 * coordinator (queue and in-flight rising) and when it decided their 429s
 * (its rate-limited counter), on the same clock as the clients' timings.
 */
function watchPool(base: string, t0: number, everyMs = 50): { stop(): Promise<{ at: number; view: PoolView }[]> } {
  const samples: { at: number; view: PoolView }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now() - t0;
      try {
        samples.push({ at, view: await poolView(base) });
      } catch { /* a missed sample is only a gap */ }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { async stop() { running = false; await loop; return samples; } };
}

async function startOcrSession(root: string, base: string, flags: string[] = []): Promise<() => Promise<void>> {
  const session = await startServeProcess(['--coordinator', base, '--models', DEFAULT_MODEL, '--join-token', JOIN, ...flags], { cwd: root });
  return () => session.stop();
}

/**
 * @example
 * const report = await ocrOverload({ root: process.cwd(), burst: 500, abandoned: 150 });
 */
export async function ocrOverload(options: OcrOverloadOptions): Promise<OcrOverloadReport> {
  const pack = await prepareDefaultModel({ root: join(options.root, '.tessera') });
  const vars = { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_ADMIN_TOKEN: ADMIN };
  const transport = options.transport ?? 'wrangler';
  if (transport === 'direct' && options.direct) throw new Error('--ocr-direct (wrangler dev\'s runtime port) and --ocr-transport direct (workerd\'s own socket) exclude each other');
  const dev: { base: string; pid?: number; stop(): Promise<void> } = transport === 'direct' ? await startDirectWorker({ cwd: options.root, vars }) : await startWranglerDev({ vars });
  const close = options.abandonClose ?? (transport === 'direct' ? 'rst' : 'fin');
  let stop: (() => Promise<void>) | undefined;
  try {
    await publishDir(pack.packDir, { baseUrl: dev.base, token: ADMIN });
    stop = await startOcrSession(options.root, dev.base, options.sessionFlags);
    const target = options.direct && dev.pid !== undefined ? await runtimeUrl(dev.pid, dev.base) : dev.base;
    if (!target) throw new Error('--ocr-direct: the Worker\'s runtime port behind wrangler dev\'s proxy was not found');
    const via: OcrOverloadReport['via'] = transport === 'direct' ? 'direct-socket' : options.direct ? 'wrangler-runtime' : 'wrangler-proxy';
    const body = JSON.stringify({ instances: [{ image: readFileSync(join(options.root, 'public', 'demo', 'hello.png')).toString('base64') }] });
    const warm: number[] = [];
    for (let i = 0; i < (options.warmup ?? 20); i++) {
      const r = await predict(target, body);
      if (r.status !== 200) throw new Error(`warm-up predict answered ${r.status}`);
      warm.push(r.ms);
    }

    const floor = (await Promise.all(Array.from({ length: options.burst }, () => call(`${target}/v2/health/live`, undefined)))).map((r) => r.ms);
    const before = await poolView(target);
    const t0 = performance.now();
    const watch = watchPool(target, t0);
    const burst = await Promise.all(Array.from({ length: options.burst }, () => predict(target, body)));
    const wallMs = performance.now() - t0;
    const samples = await watch.stop();
    const ok = burst.filter((r) => r.status === 200).map((r) => r.ms);
    const limited = burst.filter((r) => r.status === 429);
    const limitedMs = limited.map((r) => r.ms);

    // Let the pool drain, then: idle latency, the abandoned wave, one good request.
    while ((await queueDepth(target)) > 0) await new Promise((r) => setTimeout(r, 200));
    const idle: number[] = [];
    for (let i = 0; i < 5; i++) idle.push((await predict(target, body)).ms);
    const abandonAfter = options.abandonAfterMs ?? 300;
    await Promise.all(Array.from({ length: options.abandoned }, () => predict(target, body, abandonAfter, close)));
    // The disconnects reach the Worker as aborted request signals: give the cancels a moment to land.
    await new Promise((r) => setTimeout(r, 200));
    const queueDepthBefore = await queueDepth(target);
    const after = await predict(target, body);
    if (after.status !== 200) throw new Error(`the request after the abandoned ones answered ${after.status}`);
    const idleMs = percentile(idle, 50);
    return {
      via,
      serviceMsP50: percentile(warm, 50),
      burst: {
        requests: options.burst, answered: ok.length, rateLimited: limited.length,
        rateLimitedWithRetryAfter: limited.filter((r) => Number(r.retryAfter) >= 1).length,
        timeouts: burst.filter((r) => r.status === 504).length,
        otherErrors: burst.filter((r) => !r.lost && ![200, 429, 504].includes(r.status)).length,
        lost: burst.filter((r) => r.lost).length,
        answeredP50Ms: percentile(ok, 50), answeredMaxMs: ok.length ? Math.max(...ok) : NaN,
        rateLimitedP50Ms: percentile(limitedMs, 50), rateLimitedP99Ms: percentile(limitedMs, 99),
        rateLimitedMaxMs: limitedMs.length ? Math.max(...limitedMs) : NaN,
        rateLimitedWithin100Ms: limitedMs.filter((ms) => ms <= 100).length,
        wallMs,
        refusedBy: {
          hint: splitOf(limited.filter((r) => r.details?.reason === HINT_REASON).map((r) => r.ms)),
          pool: splitOf(limited.filter((r) => r.details?.reason !== HINT_REASON).map((r) => r.ms)),
        },
      },
      abandoned: { requests: options.abandoned, close, idleMs, afterMs: after.ms, ratio: after.ms / idleMs, queueDepthBefore },
      phases: { ...breakdown(burst, t0, options.burst, before, samples), floorP50Ms: percentile(floor, 50), floorP99Ms: percentile(floor, 99) },
    };
  } finally {
    await stop?.();
    await dev.stop();
  }
}

/** Where each 429's time went: the coordinator's reason and wait (from its details), the client's latency, and the pool's own timeline. */
function breakdown(burst: Answer[], t0: number, n: number, before: PoolView, samples: { at: number; view: PoolView }[]): Omit<BurstPhases, 'floorP50Ms' | 'floorP99Ms'> {
  const limited = burst.filter((r) => r.status === 429);
  const byReason: BurstPhases['byReason'] = {};
  const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
  for (const reason of new Set(limited.map((r) => String(r.details?.reason ?? 'unknown')))) {
    const these = limited.filter((r) => String(r.details?.reason ?? 'unknown') === reason);
    const waited = these.map((r) => num(r.details?.waitedMs)).filter(Number.isFinite);
    const rates = these.map((r) => num(r.details?.ratePerSecond)).filter(Number.isFinite);
    const client = these.map((r) => r.ms);
    byReason[reason] = {
      count: these.length, waitedP50Ms: percentile(waited, 50), waitedMaxMs: waited.length ? Math.max(...waited) : NaN,
      clientP50Ms: percentile(client, 50), clientMaxMs: Math.max(...client),
      ratePerSecondMin: rates.length ? Math.min(...rates) : NaN, ratePerSecondMax: rates.length ? Math.max(...rates) : NaN,
    };
  }
  const total = (v: PoolView): number => Object.values(v.answered).reduce((a, b) => a + b, 0);
  const limitedOf = (v: PoolView): number => (v.answered['rate-limited'] ?? 0) - (before.answered['rate-limited'] ?? 0);
  const arrived = samples.find((s) => s.view.queued + s.view.inFlight + total(s.view) - total(before) >= n);
  const firstDecided = samples.find((s) => limitedOf(s.view) > 0);
  const lastDecided = samples.find((s) => limitedOf(s.view) >= limited.length);
  const ends = limited.map((r) => r.endedAt - t0);
  const served: number[] = [];
  for (const r of burst) if (r.status === 200) { const sec = Math.floor((r.endedAt - t0) / 1000); served[sec] = (served[sec] ?? 0) + 1; }
  return {
    byReason, lastSentMs: Math.max(...burst.map((r) => r.startedAt - t0)),
    first429Ms: ends.length ? Math.min(...ends) : NaN, last429Ms: ends.length ? Math.max(...ends) : NaN,
    allArrivedMs: arrived?.at ?? NaN, first429DecidedMs: firstDecided?.at ?? NaN, last429DecidedMs: lastDecided?.at ?? NaN,
    servedPerSecond: Array.from(served, (v) => v ?? 0),
  };
}

const VIA: Record<OcrOverloadReport['via'], string> = {
  'wrangler-proxy': 'wrangler dev\'s public port (Node proxy)',
  'wrangler-runtime': 'wrangler dev\'s runtime port (Miniflare entry worker)',
  'direct-socket': 'workerd\'s own socket (no proxy, no entry worker)',
};

/** What local workerd makes of each close (checked with wrangler 4.164 / workerd 2026-11-17; see the module comment). */
const DISCONNECT_NOTE: Record<OcrOverloadReport['via'], Record<AbandonClose, string>> = {
  'wrangler-proxy': {
    fin: 'locally a graceful close is an HTTP half-close: request.signal does not fire (on Cloudflare it does), so the abandoned requests still run; test/worker/cancel.test.ts checks the mechanism',
    rst: 'wrangler dev\'s Node proxy does not pass a reset on to the Worker, so the abandoned requests still run; --ocr-transport direct measures cancellation',
  },
  'wrangler-runtime': {
    fin: 'locally a graceful close is an HTTP half-close: request.signal does not fire (on Cloudflare it does); --abandon-close rst makes local workerd see the disconnect',
    rst: 'a reset reaches the Worker as request.signal on this path, so the ratio above measures its cancellation',
  },
  'direct-socket': {
    fin: 'locally a graceful close is an HTTP half-close: request.signal does not fire (on Cloudflare it does); --abandon-close rst makes local workerd see the disconnect',
    rst: 'a reset reaches the Worker as request.signal on this path, so the ratio above measures its cancellation',
  },
};

/** The report as lines for bench:coordinator's output. */
export function formatOcrOverload(r: OcrOverloadReport): string[] {
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const b = r.burst;
  const a = r.abandoned;
  return [
    `OCR overload (real ppocr-v4 session, public/demo/hello.png, service p50 ${f(r.serviceMsP50)} ms sequential; via ${VIA[r.via]}):`,
    `  burst of ${b.requests} concurrent predicts, one session: answered ${b.answered} (p50 ${f(b.answeredP50Ms / 1000, 2)} s, max ${f(b.answeredMaxMs / 1000, 2)} s), 429 ${b.rateLimited} (with Retry-After ${b.rateLimitedWithRetryAfter}), timeouts ${b.timeouts}, other errors ${b.otherErrors}, lost ${b.lost}   (target: 0 timeouts)`,
    `  429 latency: p50 ${f(b.rateLimitedP50Ms)} ms, p99 ${f(b.rateLimitedP99Ms)} ms, max ${f(b.rateLimitedMaxMs)} ms; ${b.rateLimitedWithin100Ms}/${b.rateLimited} within 100 ms   (target: all)`,
    ...(['hint', 'pool'] as const).map((by) => {
      const v = b.refusedBy[by];
      return `    refused by the ${by === 'hint' ? 'Worker\'s saturation hint (no body read, no pool call)' : 'pool object (body read, RPC)'}: ${v.count}, p50 ${f(v.p50Ms)} ms, p99 ${f(v.p99Ms)} ms, max ${f(v.maxMs)} ms; ${v.within100Ms} within 100 ms`;
    }),
    `  ${a.requests} abandoned after 300 ms (closed with ${a.close === 'rst' ? 'a reset' : 'a graceful FIN'}), then one good request: ${f(a.afterMs)} ms vs ${f(a.idleMs)} ms idle = ${f(a.ratio, 2)}x (queue depth before it ${a.queueDepthBefore})   (target <= 2x)`,
    `  floor: ${b.requests} concurrent GET /v2/health/live on the same stack (no admission, no compute): p50 ${f(r.phases.floorP50Ms)} ms, p99 ${f(r.phases.floorP99Ms)} ms; 429 p50 above it ${f(b.rateLimitedP50Ms - r.phases.floorP50Ms)} ms`,
    `  429 phases: last request sent at ${f(r.phases.lastSentMs)} ms; pool held all ${b.requests} by ${f(r.phases.allArrivedMs, 0)} ms; 429s decided ${f(r.phases.first429DecidedMs, 0)}-${f(r.phases.last429DecidedMs, 0)} ms (the pool's counters via /metrics, polled every 50 ms, but the directory's copy: up to 1 s stale), received ${f(r.phases.first429Ms, 0)}-${f(r.phases.last429Ms, 0)} ms`,
    ...Object.entries(r.phases.byReason).map(([reason, v]) => `    ${reason}: ${v.count}, waited in the coordinator p50 ${f(v.waitedP50Ms, 0)} / max ${f(v.waitedMaxMs, 0)} ms, client latency p50 ${f(v.clientP50Ms, 0)} / max ${f(v.clientMaxMs, 0)} ms, pool rate used ${f(v.ratePerSecondMin, 2)}-${f(v.ratePerSecondMax, 2)} req/s`),
    `    answered per second of the burst: ${r.phases.servedPerSecond.join(' ')}`,
    `    note: ${DISCONNECT_NOTE[r.via][a.close]}`,
  ];
}
