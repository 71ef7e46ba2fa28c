/**
 * What a CLI command may touch, injected so tests can capture output; the
 * real process streams are the default.
 */
import type { Command } from 'commander';

export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** A subcommand: adds itself to the program. Commands live one per file in ./commands/. */
export type RegisterCommand = (program: Command, context: CliContext) => void;

export function defaultCliContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr };
}
