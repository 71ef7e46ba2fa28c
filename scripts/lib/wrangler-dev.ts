/**
 * Runs `wrangler dev` (workerd, local R2 and Durable Objects) as a child in
 * its own process group, so stopping it stops wrangler, esbuild and workerd
 * together and leaves no orphaned workerd holding the port. Used by
 * `npm start` and by the tests that need the real Worker.
 *
 * Secrets never go on a command line (any local user can read
 * /proc/<pid>/cmdline, e.g. with `ps`): the bindings are written to a
 * dotenv file with mode 0600 in the state folder and handed to wrangler 4 as
 * `--env-file <path>`, which it reads as secrets (and which also makes it
 * skip a `.dev.vars` next to wrangler.jsonc, so a developer's file cannot
 * override them). The file is removed when wrangler stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface WranglerDev {
  url: string;
  /** The group leader's pid (the group id). */
  pid: number;
  /** Everything wrangler printed so far. */
  output(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface WranglerDevOptions {
  port: number;
  /** Local state (R2, Durable Objects): reused across runs when the folder is. */
  persistTo: string;
  /** Bindings (secrets), written to `<persistTo>/.dev.vars` (mode 0600) and passed as `--env-file`, never as arguments. */
  vars: Record<string, string>;
  /** A folder of static assets served before the Worker's routes (the built app: `dist`). */
  assets?: string;
  /** Project root (wrangler.jsonc). Default: cwd. */
  cwd?: string;
  /** Default 60 s: wrangler's first start builds the Worker bundle. */
  timeoutMs?: number;
  onOutput?: (text: string) => void;
}

/**
 * A free loopback TCP port.
 *
 * @example
 * const port = await freePort();
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * @example
 * const dev = await startWranglerDev({ port: 8787, persistTo: '.tessera/state', vars: { TESSERA_ADMIN_TOKEN: token } });
 * await dev.stop();
 */
export async function startWranglerDev(options: WranglerDevOptions): Promise<WranglerDev> {
  const cwd = options.cwd ?? process.cwd();
  const inspectorPort = await freePort();
  const url = `http://127.0.0.1:${options.port}`;
  const envFile = writeEnvFile(options.persistTo, options.vars);
  const args = [
    join(cwd, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'dev',
    '--ip', '127.0.0.1', '--port', String(options.port), '--inspector-port', String(inspectorPort),
    '--persist-to', options.persistTo, '--show-interactive-dev-session=false', '--log-level', 'warn',
    ...(options.assets ? ['--assets', options.assets] : []),
    '--env-file', envFile,
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    // Wrangler needs Node >= 22: this process's Node comes first on PATH for anything it spawns.
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const onData = (d: Buffer) => {
    output += d.toString();
    options.onOutput?.(d.toString());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    rmSync(envFile, { force: true });
    resolve();
  }));

  const stop = async (graceMs = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, graceMs);
    await exited;
    clearTimeout(timer);
    // The leader can exit before the rest of its group: make sure workerd is gone too.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // no process left in the group
    }
  };

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/v2/health/live`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer on ${url} within ${options.timeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, pid: child.pid!, output: () => output, stop };
}

/**
 * Writes the bindings as a dotenv file readable only by this user. Values are
 * single-quoted (dotenv takes them literally); one holding a quote or a line
 * break is refused rather than mangled.
 *
 * @example
 * writeEnvFile('.tessera/state', { TESSERA_ADMIN_TOKEN: 't' }); // '.tessera/state/.dev.vars'
 */
export function writeEnvFile(dir: string, vars: Record<string, string>): string {
  const lines = Object.entries(vars).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`binding name "${name}" is not a valid environment variable name`);
    if (/['\r\n]/.test(value)) throw new Error(`binding ${name} holds a quote or a line break, which a .dev.vars file cannot carry literally`);
    return `${name}='${value}'`;
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, '.dev.vars');
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  // The mode applies only when the file is created: tighten one left by an older run.
  chmodSync(path, 0o600);
  return path;
}
