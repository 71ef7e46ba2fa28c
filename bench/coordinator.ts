/**
 * `npm run bench:coordinator [-- --json FILE] [-- --seconds S]`: the coordinator
 * under the real Worker (`wrangler dev` on loopback), Node sessions serving a
 * simulated model with a fixed service time (so the coordinator itself is what
 * is measured), closed-loop HTTP clients on OIP v2 infer. Medians of 3 runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { serve } from '../src/cli/commands/serve.ts';
import type { SessionClient } from '../src/transport/session-client.ts';

const SERVICE_MS = 20;
const JOIN = 'bench-join-token';
const KEY = 'bench-api-key';
const RUNS = 3;
const args = process.argv.slice(2);
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
const SECONDS = args.includes('--seconds') ? Number(args[args.indexOf('--seconds') + 1]) : 2;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startWorker(config: object): Promise<{ base: string; stop: () => Promise<void> }> {
  const work = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const [port, inspector] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn('npx', ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', join(work, 'state'), '--show-interactive-dev-session=false', '--log-level', 'error',
    '--var', `TESSERA_JOIN_TOKEN:${JOIN}`, '--var', `TESSERA_API_KEYS:${KEY}`, '--var', `TESSERA_COORDINATOR_CONFIG:${JSON.stringify(config)}`],
    { env: { ...process.env, WRANGLER_SEND_METRICS: 'false', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d: Buffer) => (log += d));
  child.stderr!.on('data', (d: Buffer) => (log += d));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    rmSync(work, { recursive: true, force: true });
  };
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${log}`);
    try {
      await (await fetch(`${base}/v2/health/live`)).arrayBuffer();
      return { base, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error(`wrangler dev did not start:\n${log}`);
}

let modelSeq = 0;
async function startSessions(base: string, serviceMs: number[], maxInFlight: number): Promise<{ model: string; sessions: SessionClient[] }> {
  const model = `echo-${++modelSeq}`;
  const sessions = await Promise.all(serviceMs.map((ms) => serve({ coordinator: base, models: [model], joinToken: JOIN, simulateMs: ms, maxInFlight })));
  await Promise.all(sessions.map((s) => s.joined()));
  return { model, sessions };
}

const BODY = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
async function infer(base: string, model: string): Promise<{ status: number; retryAfter: string | null }> {
  const res = await fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: BODY });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('Retry-After') };
}

/** Closed loop: `clients` loops, each sending its next request when the last is answered. */
async function closedLoop(base: string, model: string, clients: number, seconds: number): Promise<{ rps: number; latencies: number[]; errors: number }> {
  // Warm-up: the rate estimates and connections settle before measuring.
  const warmEnd = performance.now() + 300;
  const end = warmEnd + seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const { status } = await infer(base, model);
      const t1 = performance.now();
      if (t0 < warmEnd) continue;
      if (status === 200 && t1 <= end) latencies.push(t1 - t0);
      else if (status !== 200) errors++;
    }
  }));
  return { rps: latencies.length / seconds, latencies, errors };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function scenario(base: string, serviceMs: number[], clients: number, maxInFlight: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const { model, sessions } = await startSessions(base, serviceMs, maxInFlight);
    const result = await closedLoop(base, model, clients, SECONDS);
    await Promise.all(sessions.map((s) => s.close()));
    runs.push({ rps: result.rps, p50: pct(result.latencies, 50), p99: pct(result.latencies, 99), errors: result.errors });
  }
  return { rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), errors: runs.reduce((a, r) => a + r.errors, 0) };
}

async function overload(base: string): Promise<{ answered: number; rateLimited: number; rateLimitedWithRetryAfter: number; otherErrors: number; lost: number }> {
  const { model, sessions } = await startSessions(base, [SERVICE_MS, SERVICE_MS, SERVICE_MS, SERVICE_MS], 2);
  const results = await Promise.allSettled(Array.from({ length: 1000 }, () => infer(base, model)));
  await Promise.all(sessions.map((s) => s.close()));
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

async function main(): Promise<void> {
  const t0 = performance.now();
  const report: Record<string, unknown> = { serviceMs: SERVICE_MS, runs: RUNS, secondsPerRun: SECONDS };
  const led = await startWorker({});
  try {
    const scaling = [];
    for (const n of [1, 2, 4, 8]) {
      const s = await scenario(led.base, Array(n).fill(SERVICE_MS), 3 * n, 2);
      scaling.push({ sessions: n, ...s });
      console.error(`scaling n=${n}: ${s.rps.toFixed(1)} req/s`);
    }
    const single = scaling[0]!.rps;
    report.scaling = scaling.map((s) => ({ ...s, efficiency: s.rps / (s.sessions * single) }));
    // Added latency at no queueing: 4 clients on 4 sessions.
    const lat = await scenario(led.base, Array(4).fill(SERVICE_MS), 4, 1);
    report.addedLatency = { p50: lat.p50 - SERVICE_MS, p99: lat.p99 - SERVICE_MS };
    const hetero = [SERVICE_MS, SERVICE_MS, SERVICE_MS, 4 * SERVICE_MS];
    const capacity = hetero.reduce((a, ms) => a + 1000 / ms, 0);
    const h = await scenario(led.base, hetero, 16, 4);
    report.heterogeneous = { capacity, leastExpectedDelay: { rps: h.rps, ratio: h.rps / capacity } };
    report.overload = await overload(led.base);
  } finally {
    await led.stop();
  }
  const rr = await startWorker({ policy: 'round-robin' });
  try {
    const hetero = [SERVICE_MS, SERVICE_MS, SERVICE_MS, 4 * SERVICE_MS];
    const capacity = hetero.reduce((a, ms) => a + 1000 / ms, 0);
    const h = await scenario(rr.base, hetero, 16, 4);
    (report.heterogeneous as Record<string, unknown>).roundRobin = { rps: h.rps, ratio: h.rps / capacity };
  } finally {
    await rr.stop();
  }
  report.wallSeconds = (performance.now() - t0) / 1000;
  print(report);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2));
}

function print(r: Record<string, any>): void {
  const f = (n: number, d = 1): string => n.toFixed(d);
  const lines = [
    `coordinator benchmark: wrangler dev on loopback, simulated service ${r.serviceMs} ms, medians of ${r.runs} runs x ${r.secondsPerRun} s`,
    '',
    'sessions  throughput (req/s)  efficiency  p50 (ms)  p99 (ms)',
    ...r.scaling.map((s: any) => `${String(s.sessions).padStart(8)}  ${f(s.rps).padStart(18)}  ${f(s.efficiency, 3).padStart(10)}  ${f(s.p50).padStart(8)}  ${f(s.p99).padStart(8)}`),
    '',
    `added latency (4 clients, 4 sessions): p50 ${f(r.addedLatency.p50, 2)} ms, p99 ${f(r.addedLatency.p99, 2)} ms   (target p50 <= 5)`,
    `heterogeneous (3 x ${r.serviceMs} ms + 1 x ${4 * r.serviceMs} ms, capacity ${f(r.heterogeneous.capacity)} req/s):`,
    `  least-expected-delay ${f(r.heterogeneous.leastExpectedDelay.rps)} req/s = ${f(r.heterogeneous.leastExpectedDelay.ratio, 3)} of capacity (target >= 0.9)`,
    `  round-robin          ${f(r.heterogeneous.roundRobin.rps)} req/s = ${f(r.heterogeneous.roundRobin.ratio, 3)} of capacity`,
    `overload (1000 concurrent, 4 sessions): answered ${r.overload.answered}, 429 ${r.overload.rateLimited} (with Retry-After ${r.overload.rateLimitedWithRetryAfter}), other errors ${r.overload.otherErrors}, lost ${r.overload.lost}`,
    `wall time ${f(r.wallSeconds)} s`,
  ];
  console.log(lines.join('\n'));
}

await main();
