/**
 * `npm start` as a user runs it: the script as a child process on a free
 * port, in a fresh TESSERA_HOME; the printed curl example replayed with fetch;
 * Ctrl-C (SIGINT) must free the port and leave no workerd behind. A second
 * start reuses the pack, the uploaded blobs and the cached weights.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/wrangler-dev.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let home: string | undefined;
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
  if (home) await rm(home, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ms: number;
}

async function start(port: number, env: Record<string, string>): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (out.includes('Ready on')) resolve();
      else if (child.exitCode !== null) reject(new Error(`npm start exited with ${child.exitCode}:\n${err}\n${out}`));
      else setTimeout(check, 100);
    };
    check();
  });
  return { child, stdout: () => out, stderr: () => err, ms: performance.now() - t0 };
}

async function stopWithSigint(s: Started): Promise<number> {
  const t0 = performance.now();
  const exited = new Promise<number | null>((resolve) => s.child.once('exit', (code) => resolve(code)));
  s.child.kill('SIGINT');
  expect(await exited).toBe(0);
  return performance.now() - t0;
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** workerd processes listening on this port, from /proc (no process tools needed). */
function workerdOn(port: number): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('workerd') && cmd.includes(`127.0.0.1:${port}`)) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Processes whose command line holds any of these strings (other users could read it with `ps`). */
function cmdlinesHolding(secrets: string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (secrets.some((s) => cmd.includes(s))) found.push(`${pid}: ${cmd.replaceAll('\0', ' ').slice(0, 200)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The curl the script printed, replayed with fetch: URL, API key, and the demo image it names. */
async function runPrintedCurl(stdout: string): Promise<{ status: number; body: { predictions: { text: string }[] } }> {
  const url = /curl -s (\S+:predict)/.exec(stdout)?.[1];
  const key = /Authorization: Bearer ([^"\s]+)/.exec(stdout)?.[1];
  const image = /base64 -w0 ([^)]+)\)/.exec(stdout)?.[1];
  expect(url && key && image, stdout).toBeTruthy();
  const res = await fetch(url!, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ instances: [{ image: readFileSync(join(ROOT, image!)).toString('base64') }] }),
  });
  return { status: res.status, body: (await res.json()) as { predictions: { text: string }[] } };
}

describe('npm start', () => {
  it('starts everything, answers the printed curl, stops on SIGINT; a second start reuses what the first built', async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-start-'));
    const port = await freePort();
    const env = { TESSERA_HOME: home, TESSERA_API_KEY: 'start-test-key', TESSERA_ADMIN_TOKEN: 'start-test-admin-token' };

    const cold = await start(port, env);
    expect(cold.stdout()).toContain(`App         http://localhost:${port}/`);
    expect(cold.stdout()).toContain('API key     start-test-key');
    expect(cold.stdout()).toContain('Admin token start-test-admin-token');
    // No secret on any command line (wrangler, esbuild, workerd): they travel in a 0600 file.
    const joinToken = /Join token  (\S+)/.exec(cold.stdout())?.[1];
    expect(joinToken).toBeTruthy();
    expect(cmdlinesHolding(['start-test-key', 'start-test-admin-token', joinToken!])).toEqual([]);
    expect(statSync(join(home, 'state', '.dev.vars')).mode & 0o777).toBe(0o600);
    expect(cold.stdout()).toContain('Demo image read as "Hello from Tessera"');
    expect(cold.stderr()).toMatch(/packing ppocr-v4: packed revision/);
    expect(cold.stderr()).toMatch(/publishing ppocr-v4: 5 file\(s\) uploaded, 0 already/);
    // --device defaults to auto: native onnxruntime-node here, said with its reason and measured capacity.
    expect(cold.stderr()).toMatch(/session: device cpu \(cpu: onnxruntime-node 1\.\d+\.\d+, \d+ threads?.*\); declared [\d.]+ requests\/s \(measured\)/);
    const t0 = performance.now();
    const answer = await runPrintedCurl(cold.stdout());
    const requestMs = performance.now() - t0;
    expect(answer.status).toBe(200);
    expect(answer.body.predictions[0]!.text).toBe('Hello from Tessera');
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: 'Bearer start-test-key' } });
    expect(metrics.status).toBe(200);
    const coldStop = await stopWithSigint(cold);
    expect(await portIsFree(port)).toBe(true);
    expect(workerdOn(port)).toEqual([]);

    const warm = await start(port, env);
    expect(warm.stderr()).toMatch(/packing ppocr-v4: reused revision/);
    expect(warm.stderr()).toMatch(/publishing ppocr-v4: 0 file\(s\) uploaded, 5 already/);
    expect(warm.stderr()).toMatch(/0\.0 MB from the network, 16\.\d MB from cache/);
    expect((await runPrintedCurl(warm.stdout())).body.predictions[0]!.text).toBe('Hello from Tessera');
    const warmStop = await stopWithSigint(warm);
    expect(await portIsFree(port)).toBe(true);
    expect(workerdOn(port)).toEqual([]);
    console.log(`npm start: cold ${(cold.ms / 1000).toFixed(1)} s, warm ${(warm.ms / 1000).toFixed(1)} s; request ${requestMs.toFixed(0)} ms; SIGINT stop ${coldStop.toFixed(0)} / ${warmStop.toFixed(0)} ms`);
  }, 120_000);
});
