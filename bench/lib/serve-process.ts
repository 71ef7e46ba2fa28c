/**
 * One `tessera serve` child process for the benchmarks: started with the
 * given flags, resolved once it has joined the coordinator, stopped with
 * SIGTERM (SIGKILL if it is still there after a grace period). The child gets
 * this Node on PATH, so the engine process it spawns runs the same Node 22.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';

export interface ServeProcess {
  /** What it printed before joining (the `device ...` line, for instance). */
  said: string;
  /** The serve process (its engine child is a descendant). */
  pid: number;
  stop(): Promise<void>;
}

/**
 * @example
 * const session = await startServeProcess(['--coordinator', base, '--models', 'echo', '--join-token', JOIN, '--simulate-ms', '20']);
 * await session.stop();
 */
export async function startServeProcess(
  flags: string[],
  options: { cwd?: string; env?: Record<string, string>; graceMs?: number } = {},
): Promise<ServeProcess> {
  const child: ChildProcess = spawn(process.execPath, ['bin/tessera.js', 'serve', ...flags], {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...options.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('joined ')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`tessera serve ${flags.join(' ')} exited with ${code}:\n${err}`)));
  });
  const graceMs = options.graceMs ?? 3000;
  return {
    said: err,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
