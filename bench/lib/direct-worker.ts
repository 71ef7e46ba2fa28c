/**
 * The same Worker on real workerd, reached the way Cloudflare reaches a
 * deployed one: on a socket served by the user Worker itself, with no Node
 * proxy and no Miniflare entry worker in between.
 *
 * Why: under `wrangler dev` every request goes through Miniflare's entry
 * worker, which forwards it over a service binding
 * (`service.fetch(new Request(request, { cf }))`), and a client disconnect is
 * not passed across that hop, so `request.signal` never fires there (not
 * even on the runtime port behind wrangler's proxy). Miniflare's
 * `unsafeDirectSockets` gives the Worker its own listening socket instead,
 * where workerd sees the client's connection directly.
 *
 * What is the same as `wrangler dev` and as a deploy:
 * - the code: the bundle `wrangler deploy --dry-run --outdir` writes (what a
 *   deploy uploads), from worker/index.ts;
 * - the bindings, compatibility date and flags: wrangler's own translation of
 *   wrangler.jsonc (`unstable_getMiniflareWorkerOptions`: COORDINATOR and
 *   DIRECTORY with SQLite storage, the PACKS bucket, vars);
 * - the secrets: written by scripts/lib/wrangler-dev.ts's `writeEnvFile`
 *   (mode 0600, never on a command line) and read by wrangler as an env
 *   file, as `wrangler dev --env-file` does;
 * - the runtime: the Miniflare (and workerd) wrangler itself depends on,
 *   resolved from wrangler's package, not the copy the Vitest plugin pins;
 * - local state: a throwaway `resourcePersistencePath`, as `--persist-to`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Miniflare } from 'miniflare';
import { writeEnvFile } from '../../scripts/lib/wrangler-dev.ts';

export interface DirectWorker {
  /** `http://127.0.0.1:<port>`: the user Worker's own socket. */
  base: string;
  /** What the bundling step and the runtime printed (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface DirectWorkerOptions {
  /** Secrets and vars for the Worker, as startWranglerDev's `vars`. */
  vars?: Record<string, string>;
  /** Project root (wrangler.jsonc). Default: cwd. */
  cwd?: string;
  timeoutMs?: number;
}

/** Runs `wrangler deploy --dry-run --outdir <dir>`: the bundle a deploy would upload. */
async function bundle(cwd: string, outdir: string, log: (s: string) => void): Promise<string> {
  const child = spawn(process.execPath, [join(cwd, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'deploy', '--dry-run', '--outdir', outdir], {
    cwd, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => log(d.toString()));
  child.stderr.on('data', (d: Buffer) => log(d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`wrangler deploy --dry-run exited with ${code}`);
  return join(outdir, 'index.js');
}

/**
 * @example
 * const worker = await startDirectWorker({ vars: { TESSERA_API_KEYS: 'k' } });
 * await fetch(`${worker.base}/v2/health/live`);
 * await worker.stop();
 */
export async function startDirectWorker(options: DirectWorkerOptions = {}): Promise<DirectWorker> {
  const cwd = options.cwd ?? process.cwd();
  const work = mkdtempSync(join(tmpdir(), 'tessera-direct-'));
  let output = '';
  const log = (s: string): void => { output += s; };
  let mf: Miniflare | undefined;
  try {
    const scriptPath = await bundle(cwd, join(work, 'bundle'), log);
    // Wrangler's own Miniflare and its own config translation.
    const fromWrangler = createRequire(join(cwd, 'node_modules', 'wrangler', 'package.json'));
    const wrangler = await import(pathToFileURL(fromWrangler.resolve('wrangler')).href) as typeof import('wrangler');
    const miniflare = await import(pathToFileURL(fromWrangler.resolve('miniflare')).href) as typeof import('miniflare');
    const envFile = writeEnvFile(join(work, 'state'), options.vars ?? {});
    // `envFiles` is what `wrangler dev --env-file` hands the same function (not in its public type).
    const getOptions = wrangler.unstable_getMiniflareWorkerOptions as (path: string, env: undefined, o: { envFiles: string[] }) => ReturnType<typeof wrangler.unstable_getMiniflareWorkerOptions>;
    // modulesRules describe how to load unbundled imports: the bundle is one ES module.
    const { workerOptions: { modulesRules: _rules, ...workerOptions }, externalWorkers } = getOptions(join(cwd, 'wrangler.jsonc'), undefined, { envFiles: [envFile] });
    const config = wrangler.unstable_readConfig({ config: join(cwd, 'wrangler.jsonc') });
    const v4 = {
      rootPath: cwd,
      resourcePersistencePath: join(work, 'state', 'v3'),
      logRequests: false,
      // No network here: the placeholder `request.cf` without trying to fetch the real one.
      cf: false,
      log: new miniflare.Log(miniflare.LogLevel.WARN, { prefix: 'direct' }),
      workers: [{
        ...workerOptions,
        name: config.name,
        modules: true,
        scriptPath,
        // The bundle lies outside the project: module paths resolve from its folder.
        modulesRoot: dirname(scriptPath),
        // The Worker's own socket; port 0 picks a free one (read back below).
        unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
      // What wrangler adds for bindings to other Workers (none in wrangler.jsonc today).
      }, ...externalWorkers],
    };
    mf = new miniflare.Miniflare(miniflare.convertV4MiniflareOptions(v4 as Parameters<typeof miniflare.convertV4MiniflareOptions>[0]));
    const timeoutMs = options.timeoutMs ?? 60_000;
    const url = await Promise.race([
      mf.ready.then(() => mf!.unsafeGetDirectURL(config.name)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the direct Worker did not start within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    const base = url.origin;
    const res = await fetch(`${base}/v2/health/live`);
    const body = await res.text();
    if (!res.ok || body !== '{"live":true}') throw new Error(`the direct socket ${base} answered ${res.status} ${body}, not the Worker's health route`);
    const running = mf;
    return {
      base,
      log: () => output,
      stop: async () => {
        await running.dispose();
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await mf?.dispose().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${output}`, { cause: error });
  }
}
