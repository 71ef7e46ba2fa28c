/**
 * `npm run bench:coordinator [-- --json FILE] [-- --seconds S] [-- --ocr-burst N --abandoned M] [-- --ocr-only] [-- --ocr-direct] [-- --ocr-transport wrangler|direct] [-- --abandon-close fin|rst] [-- --pools-only] [-- --prewarm-only]`: the coordinator
 * under the real Worker (`wrangler dev` on loopback), Node sessions serving a
 * simulated model with a fixed service time (so the coordinator itself is what
 * is measured), closed-loop HTTP clients on OIP v2 infer. Medians of 3 runs.
 *
 * Each session is its own `tessera serve --simulate-ms` process, as in
 * production: the clients' HTTP work in this process cannot delay a session's
 * timers. Sessions are started once and serve several models, one per
 * scenario (model `s4` is served by exactly four sessions), so every run of a
 * scenario measures a warmed pool; the first 500 ms of each run are discarded.
 * Closed-loop clients: 2 x maxInFlight per session, enough that no session
 * ever waits for work.
 *
 * Added latency is end-to-end latency minus the service time the session
 * reported for that request (Server-Timing `compute`: a 20 ms timer fires a
 * little late, and that lateness is the model's, not the coordinator's). It
 * is measured twice: through `wrangler dev`'s public port, and at the Worker's
 * own runtime port behind it, which skips the dev-only proxy hop (a Durable
 * Object in a second workerd process) that a deployed Worker does not have.
 *
 * The last sections use a real OCR session (bench/lib/ocr-overload.ts): a
 * burst of --ocr-burst (500) concurrent predicts against one session, and
 * --abandoned (150) clients that disconnect after 300 ms followed by one good
 * request. `--ocr-only` runs just those; `--ocr-direct` sends them to the
 * Worker's runtime port, past wrangler dev's proxy. `--ocr-transport direct`
 * runs them (health floor included) on workerd's own socket instead, the
 * deploy bundle with no proxy and no entry worker (bench/lib/direct-worker.ts);
 * `--abandon-close fin|rst` chooses how the abandoning clients close
 * (default: fin under wrangler, rst on the direct socket; see ocr-overload.ts).
 *
 * The pools sections (two models on separate pools, one pool's cost, the
 * modelled capacity of many pools) are in bench/coordinator-pools.ts;
 * `--pools-only` runs just those.
 *
 * The prewarming section (bench/lib/prewarm-scenario.ts): time from a burst's
 * start to a second, offering session serving. `--prewarm-only` runs just
 * it; `--prewarm-mb` (64), `--prewarm-clients` (96), `--prewarm-runs` (3),
 * `--prewarm-config '<json>'` (TESSERA_PREWARM_CONFIG; default thresholds).
 */
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { formatOcrOverload, ocrOverload } from './lib/ocr-overload.ts';
import { formatPrewarm, prewarmScenario } from './lib/prewarm-scenario.ts';
import { formatPoolsSection, poolsOnly, poolsOptions, poolsSection } from './coordinator-pools.ts';
import { runtimeUrl } from './lib/runtime-url.ts';
import { startServeProcess } from './lib/serve-process.ts';
import { median, percentile } from './lib/stats.ts';
import { startWranglerDev, type WranglerDev } from '../test/helpers/wrangler-dev.ts';

const SERVICE_MS = 20;
const MAX_IN_FLIGHT = 2;
const JOIN = 'bench-join-token';
const KEY = 'bench-api-key';
const RUNS = 3;
const WARMUP_MS = 500;
const args = process.argv.slice(2);
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const SECONDS = args.includes('--seconds') ? Number(args[args.indexOf('--seconds') + 1]) : 3;
const OCR_BURST = args.includes('--ocr-burst') ? Number(args[args.indexOf('--ocr-burst') + 1]) : 500;
const ABANDONED = args.includes('--abandoned') ? Number(args[args.indexOf('--abandoned') + 1]) : 150;
const OCR_ONLY = args.includes('--ocr-only');
const POOLS_ONLY = args.includes('--pools-only');
const flag = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const OCR_TRANSPORT = flag('--ocr-transport', 'wrangler');
if (OCR_TRANSPORT !== 'wrangler' && OCR_TRANSPORT !== 'direct') throw new Error(`--ocr-transport ${OCR_TRANSPORT}: use wrangler or direct`);
const closeFlag = args.includes('--abandon-close') ? flag('--abandon-close', '') : undefined;
if (closeFlag !== undefined && closeFlag !== 'fin' && closeFlag !== 'rst') throw new Error(`--abandon-close ${closeFlag}: use fin or rst`);
const ABANDON_CLOSE = closeFlag as 'fin' | 'rst' | undefined;
const OCR_OPTIONS = {
  root: process.cwd(), burst: OCR_BURST, abandoned: ABANDONED, direct: args.includes('--ocr-direct'), transport: OCR_TRANSPORT,
  ...(ABANDON_CLOSE !== undefined ? { abandonClose: ABANDON_CLOSE } : {}),
} as const;
const PREWARM_ONLY = args.includes('--prewarm-only');
const runPrewarm = () => prewarmScenario({ root: process.cwd(), sizeMb: Number(flag('--prewarm-mb', '64')), clients: Number(flag('--prewarm-clients', '96')), runs: Number(flag('--prewarm-runs', '3')), ...(args.includes('--prewarm-config') ? { config: flag('--prewarm-config', '') } : {}) });

const startWorker = (config: object): Promise<WranglerDev> =>
  startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: JSON.stringify(config) } });

/** One `tessera serve` process; resolves once it has joined. */
async function startSession(base: string, models: string[], serviceMs: number): Promise<() => Promise<void>> {
  const session = await startServeProcess(['--coordinator', base, '--models', models.join(','),
    '--join-token', JOIN, '--simulate-ms', String(serviceMs), '--max-in-flight', String(MAX_IN_FLIGHT)]);
  return () => session.stop();
}

const BODY = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });

interface Sample { start: number; end: number; status: number; retryAfter: string | null; timing?: Record<string, number> }

// node:http with keep-alive rather than fetch: the clients share two cores with
// the Worker and the sessions, and undici's fetch costs several times the CPU
// per request (measured ~1 ms), which would be charged to the coordinator.
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

/** p50 of a no-op route (GET /v2/health/live) from one client: what the harness itself costs per request. */
async function floorMs(base: string): Promise<number> {
  const lat: number[] = [];
  const end = performance.now() + 1500;
  while (performance.now() < end) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      request(`${base}/v2/health/live`, { agent }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve());
      }).on('error', reject).end();
    });
    lat.push(performance.now() - t);
  }
  return percentile(lat, 50);
}

function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function infer(base: string, model: string, trace: boolean): Promise<Sample> {
  const start = performance.now();
  const headers: Record<string, string> = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
  if (trace) headers['X-Tessera-Timing'] = '1';
  const res = await post(`${base}/v2/models/${model}/infer`, headers, BODY);
  const end = performance.now();
  const header = (name: string): string | null => {
    const v = res.headers[name];
    return v === undefined ? null : String(v);
  };
  const sample: Sample = { start, end, status: res.status, retryAfter: header('retry-after') };
  const st = header('server-timing');
  if (st) sample.timing = Object.fromEntries(st.split(',').map((p) => /^\s*(\w+);dur=([\d.]+)/.exec(p)).filter((m) => m !== null).map((m) => [m[1], Number(m[2])]));
  return sample;
}

interface RunResult { rps: number; p50: number; p99: number; errors: number; samples: Sample[] }

/** End-to-end minus the session's reported compute time (nominal service time for untraced samples). */
const addedMs = (s: Sample): number => s.end - s.start - (s.timing?.compute ?? SERVICE_MS);

/** Closed loop: `clients` loops, each sending its next request when the last is answered. */
async function closedLoop(base: string, model: string, clients: number, trace = false): Promise<RunResult> {
  const warmEnd = performance.now() + WARMUP_MS;
  const end = warmEnd + SECONDS * 1000;
  const samples: Sample[] = [];
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < end) samples.push(await infer(base, model, trace));
  }));
  // Throughput: completions inside the window; latency: requests wholly inside it.
  const done = samples.filter((s) => s.status === 200 && s.end >= warmEnd && s.end <= end).length;
  const inside = samples.filter((s) => s.status === 200 && s.start >= warmEnd && s.end <= end);
  const lat = inside.map((s) => s.end - s.start);
  return { rps: done / SECONDS, p50: percentile(lat, 50), p99: percentile(lat, 99), errors: samples.filter((s) => s.status !== 200).length, samples: inside };
}

async function scenario(base: string, model: string, clients: number, trace = false): Promise<RunResult & { runs: number[]; addedP50: number; addedP99: number }> {
  const runs: RunResult[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(await closedLoop(base, model, clients, trace));
  const added = runs.map((r) => r.samples.map(addedMs));
  return {
    rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)),
    addedP50: median(added.map((a) => percentile(a, 50))), addedP99: median(added.map((a) => percentile(a, 99))),
    errors: runs.reduce((a, r) => a + r.errors, 0), samples: runs.flatMap((r) => r.samples), runs: runs.map((r) => r.rps),
  };
}

async function overload(base: string, model: string): Promise<Record<string, number>> {
  const results = await Promise.allSettled(Array.from({ length: 1000 }, () => infer(base, model, false)));
  let answered = 0, rateLimited = 0, withRetry = 0, other = 0, lost = 0;
  for (const r of results) {
    if (r.status === 'rejected') lost++;
    else if (r.value.status === 200) answered++;
    else if (r.value.status === 429) {
      rateLimited++;
      if (Number(r.value.retryAfter) >= 1) withRetry++;
    } else other++;
  }
  return { answered, rateLimited, rateLimitedWithRetryAfter: withRetry, otherErrors: other, lost };
}

/** Where the added latency goes: means over traced requests (ms). */
function breakdown(samples: Sample[]): Record<string, number> {
  const t = samples.filter((s) => s.timing?.session !== undefined);
  const mean = (f: (s: Sample) => number): number => t.reduce((a, s) => a + f(s), 0) / t.length;
  const g = (s: Sample, k: string): number => s.timing?.[k] ?? 0;
  return {
    samples: t.length,
    clientAndHttp: mean((s) => s.end - s.start - g(s, 'worker')),
    workerRoute: mean((s) => g(s, 'worker') - g(s, 'rpc')),
    rpcToObject: mean((s) => g(s, 'rpc') - g(s, 'queue') - g(s, 'session')),
    queue: mean((s) => g(s, 'queue')),
    sessionHops: mean((s) => g(s, 'session') - g(s, 'compute')),
    total: mean(addedMs),
    computeMean: mean((s) => g(s, 'compute')),
  };
}

/** The OCR overload sections alone (`--ocr-only`). */
async function ocrOnly(): Promise<void> {
  const t0 = performance.now();
  const ocr = await ocrOverload(OCR_OPTIONS);
  console.log([...formatOcrOverload(ocr), `wall time ${((performance.now() - t0) / 1000).toFixed(1)} s`].join('\n'));
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ ocrOverload: ocr }, null, 2));
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const report: Record<string, any> = { serviceMs: SERVICE_MS, maxInFlight: MAX_IN_FLIGHT, runs: RUNS, secondsPerRun: SECONDS, warmupMs: WARMUP_MS };
  const hetero = [SERVICE_MS, SERVICE_MS, SERVICE_MS, 4 * SERVICE_MS];
  const capacity = hetero.reduce((a, ms) => a + 1000 / ms, 0);

  const led = await startWorker({});
  const stops: (() => Promise<void>)[] = [];
  try {
    // Session i serves s<n> for every n > i, and the heterogeneous pool's fast members.
    const sessions = Array.from({ length: 8 }, (_, i) => [1, 2, 4, 8].filter((n) => i < n).map((n) => `s${n}`).concat(i < 3 ? ['het'] : []));
    stops.push(...(await Promise.all(sessions.map((models) => startSession(led.base, models, SERVICE_MS)))));
    stops.push(await startSession(led.base, ['het'], 4 * SERVICE_MS));
    const scaling = [];
    for (const n of [1, 2, 4, 8]) {
      const { samples: _s, ...s } = await scenario(led.base, `s${n}`, 2 * MAX_IN_FLIGHT * n);
      scaling.push({ sessions: n, clients: 2 * MAX_IN_FLIGHT * n, ...s });
      console.error(`scaling n=${n}: ${s.rps.toFixed(1)} req/s (runs ${s.runs.map((r) => r.toFixed(1)).join(', ')})`);
    }
    const single = scaling[0]!.rps;
    report.scaling = scaling.map((s) => ({ ...s, efficiency: s.rps / (s.sessions * single) }));
    // Added latency with no queueing (clients <= sessions), traced, through
    // wrangler's public port and at the Worker's runtime port behind it.
    const direct = await runtimeUrl(led.pid, led.base);
    report.latency = [];
    for (const [via, base] of [['wrangler dev public port (dev proxy hop)', led.base], ['Worker runtime port (no dev proxy)', direct]] as const) {
      if (!base) {
        console.error(`skipped: ${via} (not found)`);
        continue;
      }
      const entry: Record<string, any> = { via, base, noopFloorMs: await floorMs(base) };
      for (const clients of [1, 4]) {
        const lat = await scenario(base, 's4', clients, true);
        entry[`clients${clients}`] = { p50: lat.addedP50, p99: lat.addedP99, breakdownMeanMs: breakdown(lat.samples) };
        console.error(`added latency via ${via}, ${clients} clients: p50 ${lat.addedP50.toFixed(2)} ms`);
      }
      report.latency.push(entry);
    }
    const h = await scenario(led.base, 'het', 4 * 2 * MAX_IN_FLIGHT);
    report.heterogeneous = { capacity, leastExpectedDelay: { rps: h.rps, ratio: h.rps / capacity, runs: h.runs } };
    report.overload = await overload(led.base, 's4');
  } finally {
    await Promise.all(stops.splice(0).map((s) => s()));
    await led.stop();
  }

  // A naive load balancer for comparison: next session in turn, whatever its load.
  const rr = await startWorker({ policy: 'blind-round-robin' });
  try {
    stops.push(...(await Promise.all(hetero.map((ms) => startSession(rr.base, ['het'], ms)))));
    const h = await scenario(rr.base, 'het', 4 * 2 * MAX_IN_FLIGHT);
    report.heterogeneous.blindRoundRobin = { rps: h.rps, ratio: h.rps / capacity, runs: h.runs };
  } finally {
    await Promise.all(stops.splice(0).map((s) => s()));
    await rr.stop();
  }
  report.pools = await poolsSection(poolsOptions(args, { seconds: SECONDS, runs: RUNS }));
  report.ocrOverload = await ocrOverload(OCR_OPTIONS);
  report.prewarm = await runPrewarm();
  report.wallSeconds = (performance.now() - t0) / 1000;
  print(report);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2));
}

function print(r: Record<string, any>): void {
  const f = (n: number, d = 1): string => n.toFixed(d);
  const latency = (e: any): string[] => [
    `via ${e.via}: no-op route (GET /v2/health/live, 1 client) p50 ${f(e.noopFloorMs, 2)} ms (the harness's own cost per request)`,
    ...[1, 4].flatMap((clients) => {
      const a = e[`clients${clients}`];
      const b = a.breakdownMeanMs;
      return [
        `  added latency, ${clients} client${clients > 1 ? 's' : ''}, 4 sessions: p50 ${f(a.p50, 2)} ms, p99 ${f(a.p99, 2)} ms   (target p50 <= 5)`,
        `    where it goes (means over ${b.samples} traced requests, ms): client+HTTP${e.via.includes('proxy hop') ? '+dev proxy' : ''} ${f(b.clientAndHttp, 2)}, Worker route ${f(b.workerRoute, 2)}, RPC to object ${f(b.rpcToObject, 2)}, queue ${f(b.queue, 2)}, session hops ${f(b.sessionHops, 2)} = ${f(b.total, 2)}; session compute ${f(b.computeMean, 2)} (nominal ${r.serviceMs})`,
      ];
    }),
  ];
  const lines = [
    `coordinator benchmark: wrangler dev on loopback, simulated service ${r.serviceMs} ms, maxInFlight ${r.maxInFlight}, medians of ${r.runs} runs x ${r.secondsPerRun} s (+${r.warmupMs} ms warm-up)`,
    '',
    'sessions  clients  throughput (req/s)  efficiency  p50 (ms)  p99 (ms)',
    ...r.scaling.map((s: any) => `${String(s.sessions).padStart(8)}  ${String(s.clients).padStart(7)}  ${f(s.rps).padStart(18)}  ${f(s.efficiency, 3).padStart(10)}  ${f(s.p50).padStart(8)}  ${f(s.p99).padStart(8)}`),
    '',
    'added latency = end-to-end minus the service time the session reported for the request:',
    ...r.latency.flatMap(latency),
    `heterogeneous (3 x ${r.serviceMs} ms + 1 x ${4 * r.serviceMs} ms, capacity ${f(r.heterogeneous.capacity)} req/s, ${4 * 2 * r.maxInFlight} clients):`,
    `  least-expected-delay  ${f(r.heterogeneous.leastExpectedDelay.rps)} req/s = ${f(r.heterogeneous.leastExpectedDelay.ratio, 3)} of capacity (target >= 0.9)`,
    `  blind round-robin     ${f(r.heterogeneous.blindRoundRobin.rps)} req/s = ${f(r.heterogeneous.blindRoundRobin.ratio, 3)} of capacity (ignores load and free slots)`,
    `overload (1000 concurrent, 4 sessions): answered ${r.overload.answered}, 429 ${r.overload.rateLimited} (with Retry-After ${r.overload.rateLimitedWithRetryAfter}), other errors ${r.overload.otherErrors}, lost ${r.overload.lost}`,
    ...formatPoolsSection(r.pools),
    ...formatOcrOverload(r.ocrOverload),
    ...formatPrewarm(r.prewarm),
    `wall time ${f(r.wallSeconds)} s`,
  ];
  console.log(lines.join('\n'));
}

/** The prewarming section alone (`--prewarm-only`). */
async function prewarmOnly(): Promise<void> {
  const prewarm = await runPrewarm();
  console.log(formatPrewarm(prewarm).join('\n'));
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ prewarm }, null, 2));
}

await (PREWARM_ONLY ? prewarmOnly() : OCR_ONLY ? ocrOnly() : POOLS_ONLY ? poolsOnly(args, { seconds: SECONDS, runs: RUNS }, jsonOut) : main());
