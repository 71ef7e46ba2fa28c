/**
 * The real Worker under `wrangler dev` for Node tests and benchmarks: a free
 * loopback port and a throwaway persist dir around the same launcher `npm
 * start` uses (scripts/lib/wrangler-dev.ts: own process group, no orphans).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startWranglerDev as launch } from '../../scripts/lib/wrangler-dev.ts';

export { freePort };

export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Process group of wrangler and its workerd children. */
  pid: number;
  /** Everything wrangler printed so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface WranglerDevOptions {
  /** `--var NAME:VALUE` pairs (secrets for local development). */
  vars?: Record<string, string>;
  /** A folder of static assets served before the Worker's routes (a built app), as `npm start` serves `dist/`. */
  assets?: string;
  /** Project root (wrangler.jsonc). Default: cwd. */
  cwd?: string;
  timeoutMs?: number;
}

/**
 * @example
 * const dev = await startWranglerDev({ vars: { TESSERA_JOIN_TOKEN: 'j' } });
 * await fetch(`${dev.base}/v2/health/live`);
 * await dev.stop();
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const work = mkdtempSync(join(tmpdir(), 'tessera-wrangler-'));
  try {
    const dev = await launch({
      port: await freePort(),
      persistTo: join(work, 'state'),
      vars: options.vars ?? {},
      ...(options.assets !== undefined ? { assets: options.assets } : {}),
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    return {
      base: dev.url,
      pid: dev.pid,
      log: dev.output,
      stop: async () => {
        await dev.stop();
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}
