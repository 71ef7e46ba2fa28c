/**
 * `npm run bench:generate-coordinator [-- --token-ms 10 --tokens 64 --seconds 5 --runs 3 --burst 200 --json FILE]`:
 * text generation through the coordinator alone. The real Worker under
 * `wrangler dev` on loopback, `tessera serve --simulate-token-ms` processes
 * as sessions (a fixed time per token, so the coordinator is what is
 * measured), and closed-loop clients streaming `/v1/chat/completions`.
 *
 * - Aggregate tokens/s with 1, 2 and 4 sessions (one generation at a time
 *   each, two clients per session so a request is always waiting when one
 *   ends); scaling = tokens/s(n) / (n x tokens/s(1)), target >= 0.9 at 4.
 * - The coordinator's added time to first token: the client's TTFT (request
 *   sent to the first content event) minus the TTFT the session reported
 *   (Server-Timing `session-ttft` on traced requests), one client on an idle
 *   pool, through wrangler's public port and at the Worker's runtime port
 *   behind its dev proxy (which a deployed Worker does not have). Target p50
 *   <= 10 ms.
 * - Overload (issue 14's admission by deadline, for generations): `--burst`
 *   concurrent streamed requests at once against one session of
 *   `--burst-slots` slots (default 1, like `tessera serve`: one GPU) at
 *   `--burst-token-ms` (default 20), after two rounds that fill its slots and
 *   measure its pace (a cold pool admits by the queue limit alone; the pace
 *   is completions per busy second, so it is measured with the slots full). Prints answered / 429 / timeouts / other, when the 429s
 *   came, and the admitted ones' time to first token against the deadline
 *   (`--burst-deadline-ms` sets the coordinator's requestTimeoutMs for the
 *   whole run; default its 30 s). Target: 0 timeouts, 429s within 100 ms.
 *
 * Session i serves g<n> for every n > i, so pool g4 has exactly four sessions.
 * bench:generate (the engine's in-browser benchmark) runs this as its
 * coordinator section.
 */
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { DEFAULT_COORDINATOR_CONFIG } from '../src/coordinator/config.ts';
import { runtimeUrl } from './lib/runtime-url.ts';
import { startServeProcess } from './lib/serve-process.ts';
import { median, percentile } from './lib/stats.ts';
import { startWranglerDev } from '../test/helpers/wrangler-dev.ts';

const JOIN = 'bench-join-token';
const KEY = 'bench-api-key';
const args = process.argv.slice(2);
const opt = (name: string, fallback: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const TOKEN_MS = opt('--token-ms', 10);
const TOKENS = opt('--tokens', 64);
const SECONDS = opt('--seconds', 5);
const RUNS = opt('--runs', 3);
const TTFT_REQUESTS = opt('--ttft-requests', 40);
const WARMUP_MS = 500;
const POOLS = [1, 2, 4];
const BURST = opt('--burst', 200);
const BURST_SLOTS = opt('--burst-slots', 1);
const BURST_TOKEN_MS = opt('--burst-token-ms', 20);
const BURST_DEADLINE_MS = opt('--burst-deadline-ms', DEFAULT_COORDINATOR_CONFIG.requestTimeoutMs);
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;

/** One simulated-generator `tessera serve` process; resolves once it has joined. */
async function startSession(base: string, models: string[], tokenMs = TOKEN_MS, slots = 1): Promise<() => Promise<void>> {
  const session = await startServeProcess(['--coordinator', base, '--models', models.join(','),
    '--join-token', JOIN, '--simulate-token-ms', String(tokenMs), '--max-in-flight', String(slots)]);
  return () => session.stop();
}

// node:http with keep-alive, as bench:coordinator: fetch's per-request CPU would be charged to the coordinator.
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

interface Stream {
  start: number;
  status: number;
  /** Arrival time of each content event. */
  tokens: number[];
  /** Server-Timing of a traced request. */
  timing: Record<string, number>;
  /** When the response head arrived (the status was decided). */
  head: number;
  /** The stream ended with `event: error` (truncated after its first token). */
  broken: boolean;
  /** `Retry-After` of a 429. */
  retryAfter?: number;
  end: number;
}

/** One streamed chat completion; resolves when the stream ends. */
function chat(base: string, model: string, trace: boolean): Promise<Stream> {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'benchmark' }], max_tokens: TOKENS, stream: true });
  const headers: Record<string, string> = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
  if (trace) headers['X-Tessera-Timing'] = '1';
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/chat/completions`, { method: 'POST', agent, headers }, (res) => {
      const s: Stream = { start, status: res.statusCode ?? 0, tokens: [], timing: {}, head: performance.now(), broken: false, end: 0 };
      const ra = res.headers['retry-after'];
      if (typeof ra === 'string') s.retryAfter = Number(ra);
      const st = res.headers['server-timing'];
      if (typeof st === 'string') s.timing = Object.fromEntries(st.split(',').map((p) => /^\s*([\w-]+);dur=([\d.]+)/.exec(p)).filter((m) => m !== null).map((m) => [m[1], Number(m[2])]));
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        const now = performance.now();
        buffered += d;
        let i: number;
        while ((i = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, i);
          buffered = buffered.slice(i + 2);
          if (event.startsWith('data: {') && event.includes('"content":"') && !event.includes('"content":""')) s.tokens.push(now);
          if (event.startsWith('event: error')) s.broken = true;
        }
      });
      res.on('end', () => resolve({ ...s, end: performance.now() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Closed loop over `seconds`: tokens/s counted from content events arriving inside the window. */
async function throughput(base: string, model: string, clients: number): Promise<{ tokensPerSecond: number; errors: number }> {
  const warmEnd = performance.now() + WARMUP_MS;
  const end = warmEnd + SECONDS * 1000;
  const streams: Stream[] = [];
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < end) streams.push(await chat(base, model, false));
  }));
  const tokens = streams.reduce((n, s) => n + s.tokens.filter((t) => t >= warmEnd && t <= end).length, 0);
  return { tokensPerSecond: tokens / SECONDS, errors: streams.filter((s) => s.status !== 200).length };
}

/** Added TTFT on an idle pool: one client, traced, sequential requests. */
async function addedTtft(base: string, model: string): Promise<{ e2eP50: number; sessionP50: number; addedP50: number; addedP99: number; samples: number; whereP50: Record<string, number> }> {
  const e2e: number[] = [];
  const session: number[] = [];
  const added: number[] = [];
  // Where it goes, from Server-Timing: client+HTTP (outside the Worker), the Worker's route and its RPC stream to the object, the object's socket hops to the session.
  const where = { clientAndHttp: [] as number[], workerAndRpc: [] as number[], sessionHops: [] as number[] };
  for (let i = 0; i < TTFT_REQUESTS; i++) {
    const s = await chat(base, model, true);
    const first = s.tokens[0];
    const st = s.timing['session-ttft'];
    if (s.status !== 200 || first === undefined || st === undefined) continue;
    e2e.push(first - s.start);
    session.push(st);
    added.push(first - s.start - st);
    const worker = s.timing.worker ?? 0;
    const ttft = s.timing.ttft ?? 0;
    where.clientAndHttp.push(first - s.start - worker);
    where.workerAndRpc.push(worker - ttft);
    where.sessionHops.push(ttft - st);
  }
  const whereP50 = Object.fromEntries(Object.entries(where).map(([k, v]) => [k, percentile(v, 50)]));
  return { e2eP50: percentile(e2e, 50), sessionP50: percentile(session, 50), addedP50: percentile(added, 50), addedP99: percentile(added, 99), samples: added.length, whereP50 };
}

/**
 * Overload: `BURST` requests at once against one session of `BURST_SLOTS`
 * slots, after two rounds of `BURST_SLOTS` at once that give the pool its
 * measured pace.
 */
async function overload(base: string, deadlineMs: number): Promise<Record<string, any>> {
  const stop = await startSession(base, ['gburst'], BURST_TOKEN_MS, BURST_SLOTS);
  try {
    for (let i = 0; i < 2; i++) await Promise.all(Array.from({ length: BURST_SLOTS }, () => chat(base, 'gburst', false)));
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: BURST }, () => chat(base, 'gburst', false)));
    const wallMs = performance.now() - t0;
    const ok = all.filter((s) => s.status === 200 && !s.broken);
    const limited = all.filter((s) => s.status === 429);
    const timeouts = all.filter((s) => s.status === 504);
    const other = all.filter((s) => !ok.includes(s) && !limited.includes(s) && !timeouts.includes(s));
    const limitedMs = limited.map((s) => s.head - s.start);
    const ttft = ok.flatMap((s) => (s.tokens[0] === undefined ? [] : [s.tokens[0] - s.start]));
    return {
      requests: BURST, slots: BURST_SLOTS, tokenMs: BURST_TOKEN_MS, deadlineMs, wallMs,
      answered: ok.length, rateLimited: limited.length, timeouts: timeouts.length, other: other.length, otherStatuses: other.map((s) => (s.broken ? 'broken' : s.status)),
      limitedP50Ms: percentile(limitedMs, 50), limitedP99Ms: percentile(limitedMs, 99), limitedMaxMs: Math.max(...limitedMs),
      retryAfterMin: Math.min(...limited.map((s) => s.retryAfter ?? NaN)), retryAfterMax: Math.max(...limited.map((s) => s.retryAfter ?? NaN)),
      ttftP50Ms: percentile(ttft, 50), ttftMaxMs: Math.max(...ttft),
    };
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: JSON.stringify({ maxDelayMs: 0, ...(BURST_DEADLINE_MS !== undefined ? { requestTimeoutMs: BURST_DEADLINE_MS } : {}) }) } });
  const stops: (() => Promise<void>)[] = [];
  const report: Record<string, any> = { tokenMs: TOKEN_MS, tokensPerRequest: TOKENS, runs: RUNS, secondsPerRun: SECONDS, ideal1: 1000 / TOKEN_MS };
  try {
    const max = Math.max(...POOLS);
    const sessions = Array.from({ length: max }, (_, i) => POOLS.filter((n) => i < n).map((n) => `g${n}`));
    stops.push(...(await Promise.all(sessions.map((models) => startSession(dev.base, models)))));
    report.scaling = [];
    for (const n of POOLS) {
      const runs: number[] = [];
      let errors = 0;
      for (let r = 0; r < RUNS; r++) {
        const t = await throughput(dev.base, `g${n}`, 2 * n);
        runs.push(t.tokensPerSecond);
        errors += t.errors;
      }
      report.scaling.push({ sessions: n, clients: 2 * n, tokensPerSecond: median(runs), runs, errors });
      console.error(`g${n}: ${median(runs).toFixed(1)} tokens/s (runs ${runs.map((x) => x.toFixed(1)).join(', ')})`);
    }
    const single = report.scaling[0].tokensPerSecond as number;
    for (const s of report.scaling) s.scaling = s.tokensPerSecond / (s.sessions * single);
    report.ttft = [];
    const direct = await runtimeUrl(dev.pid, dev.base);
    for (const [via, base] of [['wrangler dev public port (dev proxy hop)', dev.base], ['Worker runtime port (no dev proxy)', direct]] as const) {
      if (!base) continue;
      const t = await addedTtft(base, `g${max}`);
      report.ttft.push({ via, ...t });
      console.error(`added TTFT via ${via}: p50 ${t.addedP50.toFixed(2)} ms`);
    }
    if (BURST > 0) {
      report.overload = await overload(dev.base, BURST_DEADLINE_MS);
      console.error(`overload: ${report.overload.answered} answered, ${report.overload.rateLimited} 429, ${report.overload.timeouts} timeouts`);
    }
  } finally {
    await Promise.all(stops.splice(0).map((s) => s()));
    await dev.stop();
  }
  report.wallSeconds = (performance.now() - t0) / 1000;
  const f = (n: number, d = 1): string => n.toFixed(d);
  console.log([
    `generation through the coordinator: wrangler dev on loopback, simulated ${TOKEN_MS} ms/token (ideal ${f(report.ideal1)} tokens/s per session), ${TOKENS} tokens per request, medians of ${RUNS} runs x ${SECONDS} s`,
    '',
    'sessions  clients  tokens/s  scaling  errors',
    ...report.scaling.map((s: any) => `${String(s.sessions).padStart(8)}  ${String(s.clients).padStart(7)}  ${f(s.tokensPerSecond).padStart(8)}  ${f(s.scaling, 3).padStart(7)}  ${String(s.errors).padStart(6)}`),
    `  (target: scaling >= 0.9 at ${Math.max(...POOLS)} sessions)`,
    '',
    'coordinator-added time to first token (client TTFT minus the session-reported TTFT), 1 client, idle pool:',
    ...report.ttft.flatMap((t: any) => [
      `  via ${t.via}: p50 ${f(t.addedP50, 2)} ms, p99 ${f(t.addedP99, 2)} ms (client TTFT p50 ${f(t.e2eP50, 2)}, session ${f(t.sessionP50, 2)}; ${t.samples} requests)  (target p50 <= 10)`,
      `    where it goes (p50s, ms): client+HTTP ${f(t.whereP50.clientAndHttp, 2)}, Worker route + RPC stream ${f(t.whereP50.workerAndRpc, 2)}, object<->session socket hops ${f(t.whereP50.sessionHops, 2)}`,
    ]),
    ...(report.overload ? ((o: any) => [
      '',
      `overload: ${o.requests} streamed requests at once against 1 session (${o.slots} slots, ${o.tokenMs} ms/token, ${TOKENS} tokens), deadline ${o.deadlineMs} ms to the first token, after 2 rounds that measure its pace:`,
      `  answered ${o.answered}, 429 ${o.rateLimited}, timeouts ${o.timeouts}, other ${o.other}${o.other ? ` (${o.otherStatuses.join(', ')})` : ''}  (target: 0 timeouts)`,
      o.rateLimited ? `  429s after p50 ${f(o.limitedP50Ms)} ms, p99 ${f(o.limitedP99Ms)} ms, max ${f(o.limitedMaxMs)} ms (target: within 100 ms); Retry-After ${o.retryAfterMin}-${o.retryAfterMax} s` : '  no 429s',
      `  admitted: time to first token p50 ${f(o.ttftP50Ms)} ms, max ${f(o.ttftMaxMs)} ms; burst done in ${f(o.wallMs / 1000)} s`,
    ])(report.overload) : []),
    `wall time ${f(report.wallSeconds)} s`,
  ].join('\n'));
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2));
}

await main();
