/**
 * The prewarming scenario of `npm run bench:coordinator`: how long from the
 * start of a burst until a second, offering session serves the model.
 *
 * Per run, on a fresh `wrangler dev` (so the directory starts empty): a
 * random-weights matmul-chain model of `--prewarm-mb` MiB is published;
 * session A (`tessera serve --models <it> --max-batch 1`) serves it;
 * session B (`tessera serve --prewarm all --prewarm-budget 4GiB`) serves
 * nothing and offers to load. Each is its own process with its own cache
 * directory, so B's load really streams the pack from the Worker's R2.
 * Then `--prewarm-clients` closed-loop clients start the burst, and the
 * times of B's printed steps are taken against its start:
 *   ask     the directory asked B (pressure held for `sustainMs`),
 *   joined  B loaded the model and joined its pool,
 *   served  B answered its first request.
 * The burst runs on for 3 s after `served` to measure the pool's throughput
 * with both sessions against A alone (the second before the ask).
 *
 * The thresholds are the defaults users get (prewarm-config.ts) unless
 * `--prewarm-config '<json>'` overrides them (TESSERA_PREWARM_CONFIG).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Agent, request } from 'node:http';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { generateModelFile } from '../../src/cli/generate-model.ts';
import { packModel } from '../../src/pack/pack-model.ts';
import { startWranglerDev } from '../../test/helpers/wrangler-dev.ts';
import { median } from './stats.ts';

export interface PrewarmScenarioOptions {
  root: string;
  sizeMb: number;
  clients: number;
  runs: number;
  /** JSON of Partial<PrewarmConfig>, or undefined for the defaults. */
  config?: string;
  /** Give up a run when B has not served this long after the burst began. */
  timeoutS?: number;
}

export interface PrewarmRun {
  askMs?: number;
  readyMs?: number;
  servedMs?: number;
  /** B's own load time (ask received to joined), as it printed it. */
  loadMs?: number;
  aloneRps?: number;
  bothRps?: number;
  errors: number;
  note?: string;
}

export interface PrewarmResult {
  sizeMb: number;
  clients: number;
  config: string;
  runs: PrewarmRun[];
  medians: { askMs?: number; readyMs?: number; servedMs?: number; loadMs?: number; aloneRps?: number; bothRps?: number };
}

const JOIN = 'bench-prewarm-join';
const KEY = 'bench-prewarm-key';
const ADMIN = 'bench-prewarm-admin';
const AFTER_SERVED_MS = 3_000;

/** A random-weights model of about `sizeMb` MiB, packed once and reused. */
async function benchPack(root: string, sizeMb: number): Promise<{ dir: string; name: string; d: number }> {
  const name = `prewarm-${sizeMb}m`;
  const dir = join(root, '.cache', 'bench', name);
  const stamp = join(dir, '.bench.json');
  if (existsSync(stamp)) return JSON.parse(await readFile(stamp, 'utf8')) as { dir: string; name: string; d: number };
  const work = `${dir}.build`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const { shape } = await generateModelFile({ kind: 'matmul-chain', sizeBytes: sizeMb * 1024 * 1024, seed: 11, layers: 4 }, join(work, 'model.onnx'), { externalData: true });
  await rm(dir, { recursive: true, force: true });
  await packModel(join(work, 'model.onnx'), { out: dir, name });
  await rm(work, { recursive: true, force: true });
  const info = { dir, name, d: shape.d };
  await writeFile(stamp, JSON.stringify(info));
  return info;
}

/** A `tessera serve` child; `lines` holds every stderr line with the time it arrived. */
function serveProcess(flags: string[], cacheDir: string): { child: ChildProcess; lines: { at: number; text: string }[]; waitFor(re: RegExp, timeoutMs: number): Promise<{ at: number; text: string }>; stop(): Promise<void> } {
  const child = spawn(process.execPath, ['bin/tessera.js', 'serve', ...flags], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, XDG_CACHE_HOME: cacheDir, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
  });
  const lines: { at: number; text: string }[] = [];
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    const at = performance.now();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ at, text });
  });
  return {
    child, lines,
    async waitFor(re, timeoutMs) {
      const end = performance.now() + timeoutMs;
      for (;;) {
        const hit = lines.find((l) => re.test(l.text));
        if (hit) return hit;
        if (child.exitCode !== null) throw new Error(`tessera serve ${flags.join(' ')} exited:\n${lines.map((l) => l.text).join('\n')}`);
        if (performance.now() > end) throw new Error(`no ${re} from tessera serve within ${timeoutMs} ms:\n${lines.map((l) => l.text).join('\n')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function oneRun(root: string, pack: { dir: string; name: string; d: number }, options: PrewarmScenarioOptions): Promise<PrewarmRun> {
  const dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: JOIN, TESSERA_API_KEYS: KEY, TESSERA_ADMIN_TOKEN: ADMIN, ...(options.config ? { TESSERA_PREWARM_CONFIG: options.config } : {}) } });
  const caches = await mkdtemp(join(tmpdir(), 'tessera-bench-prewarm-'));
  const procs: ReturnType<typeof serveProcess>[] = [];
  try {
    await publishDir(pack.dir, { baseUrl: dev.base, token: ADMIN });
    const common = ['--coordinator', dev.base, '--join-token', JOIN, '--device', 'cpu', '--threads', '1', '--max-batch', '1'];
    const a = serveProcess([...common, '--models', pack.name], join(caches, 'a'));
    procs.push(a);
    await a.waitFor(/^joined /, 120_000);
    const b = serveProcess([...common, '--prewarm', 'all', '--prewarm-budget', '4GiB'], join(caches, 'b'));
    procs.push(b);
    await b.waitFor(/^offering to load models/, 60_000);

    const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, pack.d], datatype: 'FP32', data: Array.from({ length: pack.d }, (_, i) => (i % 7) / 7) }] });
    const url = `${dev.base}/v2/models/${pack.name}/infer`;
    const done: number[] = [];
    let errors = 0;
    let stop = false;
    const t0 = performance.now();
    const loops = Array.from({ length: options.clients }, async () => {
      while (!stop) {
        const status = await post(url, body).catch(() => 0);
        if (status === 200) done.push(performance.now());
        else errors++;
      }
    });
    const run: PrewarmRun = { errors: 0 };
    try {
      const served = await b.waitFor(/ served its first request$/, (options.timeoutS ?? 120) * 1000);
      await new Promise((r) => setTimeout(r, AFTER_SERVED_MS));
      const at = (re: RegExp): number | undefined => b.lines.find((l) => re.test(l.text))?.at;
      const ask = at(/^prewarm: the coordinator asked for /);
      const ready = at(/^prewarm: joined the \S+ pool as session /);
      run.askMs = ask === undefined ? undefined : ask - t0;
      // The join line and the first served one can cross on B's stderr (the pool sends work the moment it has the session): joined is the earlier.
      run.readyMs = (ready === undefined ? served.at : Math.min(ready, served.at)) - t0;
      run.servedMs = served.at - t0;
      const loaded = b.lines.map((l) => /^prewarm: \S+ loaded in (\d+) ms/.exec(l.text)).find((m) => m !== null);
      if (loaded) run.loadMs = Number(loaded[1]);
      const rate = (from: number, to: number): number => done.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
      // A alone: the second before the ask (the queue is full by then); both: the 3 s after B served.
      if (ask !== undefined && ask - t0 > 1_500) run.aloneRps = rate(ask - 1_000, ask);
      run.bothRps = rate(served.at, served.at + AFTER_SERVED_MS);
    } catch (err) {
      run.note = (err as Error).message.split('\n')[0];
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    run.errors = errors;
    return run;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await dev.stop();
    await rm(caches, { recursive: true, force: true });
  }
}

const med = (runs: PrewarmRun[], k: keyof PrewarmResult['medians']): number | undefined => {
  const v = runs.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
  return v.length > 0 ? median(v) : undefined;
};

/**
 * @example
 * const prewarm = await prewarmScenario({ root: process.cwd(), sizeMb: 64, clients: 96, runs: 3 });
 * console.log(formatPrewarm(prewarm).join('\n'));
 */
export async function prewarmScenario(options: PrewarmScenarioOptions): Promise<PrewarmResult> {
  const pack = await benchPack(options.root, options.sizeMb);
  const runs: PrewarmRun[] = [];
  for (let i = 0; i < options.runs; i++) {
    const run = await oneRun(options.root, pack, options);
    runs.push(run);
    console.error(`prewarm run ${i + 1}: ask ${run.askMs?.toFixed(0)} ms, ready ${run.readyMs?.toFixed(0)} ms, served ${run.servedMs?.toFixed(0)} ms${run.note ? ` (${run.note})` : ''}`);
  }
  return {
    sizeMb: options.sizeMb, clients: options.clients, config: options.config ?? 'defaults', runs,
    medians: { askMs: med(runs, 'askMs'), readyMs: med(runs, 'readyMs'), servedMs: med(runs, 'servedMs'), loadMs: med(runs, 'loadMs'), aloneRps: med(runs, 'aloneRps'), bothRps: med(runs, 'bothRps') },
  };
}

/** The section's lines for the benchmark's printout. */
export function formatPrewarm(r: PrewarmResult): string[] {
  const ms = (n: number | undefined): string => (n === undefined ? 'n/a' : `${(n / 1000).toFixed(2)} s`);
  const rps = (n: number | undefined): string => (n === undefined ? 'n/a' : `${n.toFixed(1)} req/s`);
  const m = r.medians;
  return [
    `prewarming (${r.sizeMb} MiB model, one session serving it, one offering session, ${r.clients} closed-loop clients, thresholds: ${r.config}; medians of ${r.runs.length} run${r.runs.length === 1 ? '' : 's'}):`,
    `  burst start -> ask ${ms(m.askMs)}, -> loaded and joined the pool ${ms(m.readyMs)} (its load ${ms(m.loadMs)}), -> second session serving ${ms(m.servedMs)}`,
    `  pool throughput: first session alone ${rps(m.aloneRps)}, both ${rps(m.bothRps)}; non-200 answers ${r.runs.reduce((n, x) => n + x.errors, 0)}`,
    ...r.runs.filter((x) => x.note).map((x) => `  a run failed: ${x.note}`),
  ];
}
