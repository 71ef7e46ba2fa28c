/**
 * Runs the CLI's own entry point in this process with captured output, as
 * tests check what a user would read.
 */
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/main.ts';

/**
 * @example
 * const { code, out, err } = await runCliCaptured(['publish', dir, '--to', base]);
 */
export async function runCliCaptured(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli(args, { stdout, stderr });
  return { code, out, err };
}
