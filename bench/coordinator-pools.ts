/**
 * The pools sections of `npm run bench:coordinator` (imported by
 * bench/coordinator.ts; `-- --pools-only` runs just these):
 *
 * 1. Two models on separate pools under load at once, in the same run as
 *    each model alone: 4 sessions serve `pool-a`, 4 others serve `pool-b`
 *    (simulated 20 ms, 2 in flight), closed-loop clients on OIP v2 infer.
 *    Target: each pool's throughput together >= 0.9 of its alone figure.
 *    Runs interleave (a alone, b alone, both) so drift hits all three.
 * 2. What one request costs a pool object in workerd: throughput at
 *    saturation with fast sessions (1 ms per batch, 4 in flight) and many
 *    clients, at batch size 1 and with batching on; ms per request and per
 *    batch follow (workerd freezes Date.now() during synchronous work, so
 *    throughput is the only honest clock). Under `wrangler dev` the Worker's
 *    route runs in the same process as the object and the clients and
 *    sessions share the host's cores, so this is an upper bound on the
 *    object's own cost. The pure Coordinator's CPU in Node
 *    (bench/lib/coordinator-cpu.ts) is the lower bound beside it.
 * 3. The modelled aggregate capacity for 1, 4, 16, 64 pools next to one
 *    object carrying every model (src/coordinator/simulate-pools.ts), with
 *    both costs.
 *
 * Flags: --seconds S (per run, default the entry's), --runs N (default the
 * entry's), --pool-sessions N (sessions per model, default 4).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Agent, request } from 'node:http';
import { measureCoordinatorCpu, type CoordinatorCpu } from './lib/coordinator-cpu.ts';
import { machineCpuSeconds, threadCpuSeconds } from './lib/process-cpu.ts';
import { runtimeUrl } from './lib/runtime-url.ts';
import { startServeProcess } from './lib/serve-process.ts';
import { median } from './lib/stats.ts';
import { startWranglerDev } from '../test/helpers/wrangler-dev.ts';
import type { ObjectCost } from '../src/coordinator/simulate-coordinator.ts';
import { formatPoolsCapacity, simulatePools, type PoolsCapacityRow } from '../src/coordinator/simulate-pools.ts';

const JOIN = 'bench-pools-join';
const KEY = 'bench-pools-key';
const SERVICE_MS = 20;
const MAX_IN_FLIGHT = 2;
const WARMUP_MS = 500;
const BODY = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

const flag = (args: string[], name: string): number | undefined => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : undefined);

function post(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(BODY)) } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

/** Closed loops on each model at once for `seconds` after a warm-up: completions per second per model, and non-200 answers. */
async function load(base: string, perModel: Record<string, number>, seconds: number): Promise<Record<string, { rps: number; errors: number }>> {
  const warmEnd = performance.now() + WARMUP_MS;
  const end = warmEnd + seconds * 1000;
  const out: Record<string, { rps: number; errors: number }> = {};
  await Promise.all(Object.entries(perModel).map(async ([model, clients]) => {
    let done = 0;
    let errors = 0;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const status = await post(`${base}/v2/models/${model}/infer`).catch(() => 0);
        const t = performance.now();
        if (status !== 200) errors++;
        else if (t >= warmEnd && t <= end) done++;
      }
    }));
    out[model] = { rps: done / seconds, errors };
  }));
  return out;
}

/** Runs `work`, recording the machine's busy share of all cores while it ran. */
async function busyDuring<T>(into: Record<string, number[]>, key: string, work: () => Promise<T>, devPid: number): Promise<T> {
  const before = machineCpuSeconds();
  const threadsBefore = threadCpuSeconds(devPid, 'workerd');
  const t0 = performance.now();
  const result = await work();
  const seconds = (performance.now() - t0) / 1000;
  const after = machineCpuSeconds();
  const threadsAfter = threadCpuSeconds(devPid, 'workerd');
  into[key]!.push((after.busy - before.busy) / Math.max(1e-9, after.total - before.total));
  into[`${key}-thread`]!.push(Math.max(0, ...[...threadsAfter].map(([tid, s]) => (s - (threadsBefore.get(tid) ?? 0)) / seconds)));
  return result;
}

async function metricsText(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } });
  return res.text();
}
/** One series' value from /metrics (0 when absent), e.g. series(text, 'tessera_requests_total', 'm', 'ok'). */
const series = (text: string, name: string, model: string, status?: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`model="${model}"`) && (status === undefined || l.includes(`status="${status}"`)));
  return line ? Number(line.split(' ').pop()) : 0;
};

export interface TwoPoolsResult {
  sessionsPerModel: number;
  clientsPerModel: number;
  /** Where the clients sent their requests. */
  via: string;
  alone: Record<string, number>;
  together: Record<string, number>;
  ratio: Record<string, number>;
  runs: { alone: Record<string, number>; together: Record<string, number> }[];
  errors: number;
  /** The machine's busy share of all its cores while one pool, then both, were loaded (medians). */
  machineBusy: { alone: number; together: number };
  /** Cores used by workerd's busiest thread (where the Worker and every pool object run under wrangler dev), medians. */
  workerdThread: { alone: number; together: number };
}

export interface PoolCostResult {
  via: string;
  clients: number;
  batch1Rps: number;
  batchedRps: number;
  meanBatch: number;
  cost: ObjectCost;
  errors: number;
  /** What the fast sessions could take at batch 1 (a 1 ms timer per batch, one batch at a time each): above ~0.8 of it, the sessions, not the object, were the limit. */
  sessionCeilingRps: number;
}

export interface PoolsReport {
  twoPools: TwoPoolsResult;
  poolCost: PoolCostResult;
  nodeCpu: CoordinatorCpu;
  capacityWorkerd: PoolsCapacityRow[];
  capacityNode: PoolsCapacityRow[];
}

/**
 * @example
 * const pools = await poolsSection({ seconds: 3, runs: 3 });
 * console.log(formatPoolsSection(pools).join('\n'));
 */
export async function poolsSection(options: { seconds: number; runs: number; sessionsPerModel?: number }): Promise<PoolsReport> {
  const k = options.sessionsPerModel ?? 4;
  const dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_COORDINATOR_CONFIG: JSON.stringify({ maxDelayMs: 0, queueLimit: 4096 }) } });
  const stops: (() => Promise<void>)[] = [];
  const session = async (models: string, flags: string[]): Promise<void> => {
    const s = await startServeProcess(['--coordinator', dev.base, '--models', models, '--join-token', JOIN, ...flags]);
    stops.push(() => s.stop());
  };
  try {
    const sim = ['--simulate-ms', String(SERVICE_MS), '--max-in-flight', String(MAX_IN_FLIGHT)];
    const fast = ['--simulate-ms', '1', '--max-in-flight', '4'];
    await Promise.all([
      ...Array.from({ length: k }, () => session('pool-a', sim)),
      ...Array.from({ length: k }, () => session('pool-b', sim)),
      ...Array.from({ length: k }, () => session('cost-1', [...fast, '--max-batch', '1'])),
      ...Array.from({ length: k }, () => session('cost-8', [...fast, '--max-batch', '8'])),
    ]);
    const clients = 2 * MAX_IN_FLIGHT * k;
    // The runtime port skips wrangler's dev proxy: one single-threaded Node hop
    // both pools' traffic would otherwise share, which a deployed Worker does not have.
    const loadDirect = await runtimeUrl(dev.pid, dev.base);
    const loadBase = loadDirect ?? dev.base;
    const runs: TwoPoolsResult['runs'] = [];
    const busy: Record<string, number[]> = { alone: [], together: [], 'alone-thread': [], 'together-thread': [] };
    let errors = 0;
    for (let r = 0; r < options.runs; r++) {
      const a = await busyDuring(busy, 'alone', () => load(loadBase, { 'pool-a': clients }, options.seconds), dev.pid);
      const b = await busyDuring(busy, 'alone', () => load(loadBase, { 'pool-b': clients }, options.seconds), dev.pid);
      const both = await busyDuring(busy, 'together', () => load(loadBase, { 'pool-a': clients, 'pool-b': clients }, options.seconds), dev.pid);
      errors += a['pool-a']!.errors + b['pool-b']!.errors + both['pool-a']!.errors + both['pool-b']!.errors;
      runs.push({ alone: { 'pool-a': a['pool-a']!.rps, 'pool-b': b['pool-b']!.rps }, together: { 'pool-a': both['pool-a']!.rps, 'pool-b': both['pool-b']!.rps } });
      console.error(`two pools run ${r + 1}: alone a ${a['pool-a']!.rps.toFixed(1)}, b ${b['pool-b']!.rps.toFixed(1)}; together a ${both['pool-a']!.rps.toFixed(1)}, b ${both['pool-b']!.rps.toFixed(1)} req/s`);
    }
    const med = (pick: (x: TwoPoolsResult['runs'][number]) => number): number => median(runs.map(pick));
    const alone = { 'pool-a': med((x) => x.alone['pool-a']!), 'pool-b': med((x) => x.alone['pool-b']!) };
    const together = { 'pool-a': med((x) => x.together['pool-a']!), 'pool-b': med((x) => x.together['pool-b']!) };
    const twoPools: TwoPoolsResult = {
      sessionsPerModel: k, clientsPerModel: clients, alone, together, runs, errors, via: loadDirect ? 'Worker runtime port' : 'wrangler dev public port',
      machineBusy: { alone: median(busy.alone!), together: median(busy.together!) },
      workerdThread: { alone: median(busy['alone-thread']!), together: median(busy['together-thread']!) },
      ratio: { 'pool-a': together['pool-a'] / alone['pool-a'], 'pool-b': together['pool-b'] / alone['pool-b'] },
    };

    // Saturation: the runtime port skips wrangler's dev proxy (a hop a deployed Worker does not have).
    const direct = await runtimeUrl(dev.pid, dev.base);
    const base = direct ?? dev.base;
    const satClients = 64;
    const unbatched: number[] = [];
    let costErrors = 0;
    for (let r = 0; r < options.runs; r++) {
      const x = (await load(base, { 'cost-1': satClients }, options.seconds))['cost-1']!;
      unbatched.push(x.rps);
      costErrors += x.errors;
    }
    const rps1 = median(unbatched);
    const before = await metricsText(dev.base);
    const batched: number[] = [];
    for (let r = 0; r < options.runs; r++) {
      const x = (await load(base, { 'cost-8': satClients }, options.seconds))['cost-8']!;
      batched.push(x.rps);
      costErrors += x.errors;
    }
    // The directory hears from the pool within about a second.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await metricsText(dev.base);
    const requests = series(after, 'tessera_requests_total', 'cost-8', 'ok') - series(before, 'tessera_requests_total', 'cost-8', 'ok');
    const batches = series(after, 'tessera_batch_compute_seconds_count', 'cost-8') - series(before, 'tessera_batch_compute_seconds_count', 'cost-8');
    const meanBatch = batches > 0 ? requests / batches : 1;
    const rpsB = median(batched);
    const t1 = 1000 / rps1;
    const tB = 1000 / rpsB;
    // t1 = r + b (a batch per request); tB = r + b / meanBatch.
    const perBatchMs = meanBatch > 1.2 ? Math.max(0, (t1 - tB) / (1 - 1 / meanBatch)) : 0;
    const poolCost: PoolCostResult = {
      via: direct ? 'Worker runtime port' : 'wrangler dev public port', clients: satClients, batch1Rps: rps1, batchedRps: rpsB, meanBatch,
      cost: { perRequestMs: Math.max(0.001, t1 - perBatchMs), perBatchMs }, errors: costErrors, sessionCeilingRps: k * 1000,
    };
    console.error(`pool cost: ${rps1.toFixed(0)} req/s at batch 1, ${rpsB.toFixed(0)} req/s batched (mean batch ${meanBatch.toFixed(2)})`);

    const nodeCpu = measureCoordinatorCpu();
    // Sessions far faster than the object and enough clients that the object is the limit: its capacity is what is modelled.
    const model = (cost: ObjectCost): PoolsCapacityRow[] =>
      simulatePools({ pools: [1, 4, 16, 64], clientsPerPool: 32, cost, durationMs: 3_000, warmupMs: 500, config: { maxBatch: 1, maxDelayMs: 0 } });
    return {
      twoPools, poolCost, nodeCpu,
      capacityWorkerd: model(poolCost.cost),
      capacityNode: model({ perRequestMs: nodeCpu.perRequestMs, perBatchMs: nodeCpu.perBatchMs }),
    };
  } finally {
    await Promise.all(stops.splice(0).map((s) => s()));
    await dev.stop();
  }
}

/** @example console.log(formatPoolsSection(report.pools).join('\n')); */
export function formatPoolsSection(p: PoolsReport): string[] {
  const f = (n: number, d = 1): string => n.toFixed(d);
  const t = p.twoPools;
  const c = p.poolCost;
  return [
    `two models on separate pools (${t.sessionsPerModel} sessions each, ${SERVICE_MS} ms, ${MAX_IN_FLIGHT} in flight, ${t.clientsPerModel} clients per model via ${t.via}; medians of ${t.runs.length} runs):`,
    'pool     alone (req/s)  together (req/s)  ratio  (target >= 0.9)',
    ...(['pool-a', 'pool-b'] as const).map((m) => `${m.padEnd(7)}  ${f(t.alone[m]!).padStart(13)}  ${f(t.together[m]!).padStart(16)}  ${f(t.ratio[m]!, 3).padStart(5)}  ${t.ratio[m]! >= 0.9 ? 'ok' : 'BELOW TARGET'}`),
    `  non-200 answers: ${t.errors}`,
    `  machine busy (all ${cpus().length} cores, medians): ${f(100 * t.machineBusy.alone, 0)}% with one pool loaded, ${f(100 * t.machineBusy.together, 0)}% with both: one workerd process runs the Worker and both pool objects, and the clients and sessions share its cores; near 100% the host, not the pools, is the limit`,
    `  workerd's busiest thread: ${f(t.workerdThread.alone, 2)} cores with one pool loaded, ${f(t.workerdThread.together, 2)} with both (under wrangler dev the Worker and every pool object share that one thread; on Cloudflare each object runs on its own)`,
    `one pool object at saturation (${c.clients} clients via ${c.via}, fast sessions): ${f(c.batch1Rps, 0)} req/s at batch 1, ${f(c.batchedRps, 0)} req/s batched (mean batch ${f(c.meanBatch, 2)}), non-200 ${c.errors}`,
    `  => per request ${f(c.cost.perRequestMs, 3)} ms, per batch ${f(c.cost.perBatchMs, 3)} ms (upper bound: Worker route, clients and sessions share the host)`,
    ...(c.batch1Rps >= 0.8 * c.sessionCeilingRps ? [`  note: ${f(c.batch1Rps, 0)} req/s is near the fast sessions' own ceiling (~${f(c.sessionCeilingRps, 0)}): rerun with more --pool-sessions for the object's limit`] : []),
    `pure Coordinator CPU in Node (process.cpuUsage): ${f(p.nodeCpu.batch1Ms * 1000, 1)} us per request at batch 1, ${f(p.nodeCpu.batch8Ms * 1000, 1)} us at batch 8 => per request ${f(p.nodeCpu.perRequestMs * 1000, 1)} us, per batch ${f(p.nodeCpu.perBatchMs * 1000, 1)} us (lower bound: no runtime, no sockets)`,
    ...formatPoolsCapacity(p.capacityWorkerd, c.cost),
    '  with the Node CPU figures instead (what the coordinator logic alone allows):',
    ...formatPoolsCapacity(p.capacityNode, { perRequestMs: p.nodeCpu.perRequestMs, perBatchMs: p.nodeCpu.perBatchMs }).slice(1, -1),
  ];
}

/** `npm run bench:coordinator -- --pools-only [--seconds S] [--runs N] [--pool-sessions N] [--json FILE]`. */
export async function poolsOnly(args: string[], defaults: { seconds: number; runs: number }, jsonOut?: string): Promise<void> {
  const t0 = performance.now();
  const report = await poolsSection(poolsOptions(args, defaults));
  console.log([...formatPoolsSection(report), `wall time ${((performance.now() - t0) / 1000).toFixed(1)} s`].join('\n'));
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ pools: report }, null, 2));
}

/** The section's own flags, for the entry's main run. */
export const poolsOptions = (args: string[], defaults: { seconds: number; runs: number }): { seconds: number; runs: number; sessionsPerModel?: number } => ({
  seconds: flag(args, '--seconds') ?? defaults.seconds,
  runs: flag(args, '--runs') ?? defaults.runs,
  ...(flag(args, '--pool-sessions') !== undefined ? { sessionsPerModel: flag(args, '--pool-sessions')! } : {}),
});
