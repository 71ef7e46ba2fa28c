/**
 * Starts the real Worker under `wrangler dev` (workerd, local R2 and Durable
 * Objects in a temp persist dir) on a free loopback port, for Node tests and
 * benchmarks that need the Worker over real HTTP and WebSockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Everything wrangler printed so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface WranglerDevOptions {
  /** `--var NAME:VALUE` pairs (secrets for local development). */
  vars?: Record<string, string>;
  timeoutMs?: number;
}

/** A port the OS says is free right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * @example
 * const dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: 'j' } });
 * await fetch(`${dev.base}/v2/health/live`);
 * await dev.stop();
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const work = mkdtempSync(join(tmpdir(), 'tessera-wrangler-'));
  const [port, inspector] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let output = '';
  const vars = Object.entries(options.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  const child: ChildProcess = spawn('npx', ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', join(work, 'state'), '--show-interactive-dev-session=false', '--log-level', 'error', ...vars],
    {
      // Wrangler needs Node >= 22: this process's Node goes first on PATH.
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stop() ends wrangler, esbuild and workerd together.
      detached: true,
    });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    rmSync(work, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    }
    try {
      await (await fetch(`${base}/v2/health/live`)).arrayBuffer();
      return { base, log: () => output, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error(`wrangler dev did not answer within ${options.timeoutMs ?? 60_000} ms:\n${output}`);
}
