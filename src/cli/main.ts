/**
 * The `tessera` command line. Exit codes: 0 success, 1 failure, 2 bad
 * arguments (usage errors, as most Unix tools). Errors print as
 * `error [code]: message`, the code being a TesseraError code.
 */
import { Command, CommanderError } from 'commander';
import { isTesseraError, toErrorData } from '../errors.ts';
import { defaultCliContext, type CliContext } from './cli-context.ts';
import { COMMANDS } from './commands/index.ts';

/** Builds the program with every registered subcommand. */
export function createProgram(context: CliContext = defaultCliContext()): Command {
  const output = {
    writeOut: (s: string) => void context.stdout.write(s),
    writeErr: (s: string) => void context.stderr.write(s),
    // Commander's own message starts with "error: "; ours carries the code.
    outputError: () => undefined,
  };
  const program = new Command('tessera')
    .description('Tessera: stream sharded ONNX models into a verified cache and run them on WebGPU or wasm')
    .exitOverride()
    .configureOutput(output)
    .showHelpAfterError(false);
  for (const register of COMMANDS) register(program, context);
  // Subcommands inherit neither exitOverride nor output settings unless copied.
  for (const sub of program.commands) sub.exitOverride().configureOutput(output);
  return program;
}

/**
 * Runs the CLI and resolves with the exit code (never calls process.exit, so it is testable).
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2));
 */
export async function runCli(argv: string[], context: CliContext = defaultCliContext()): Promise<number> {
  const program = createProgram(context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      const message = error.message.replace(/^error: /, '');
      context.stderr.write(`error [invalid-argument]: ${message}\n(run "tessera help" for usage)\n`);
      return 2;
    }
    const data = toErrorData(error);
    context.stderr.write(`error [${data.code}]: ${data.message}\n`);
    return isTesseraError(error, 'invalid-argument') ? 2 : 1;
  }
}
