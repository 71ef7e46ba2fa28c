/**
 * `tessera generate <matmul-chain|transformer-block> --size 64MiB --out file.onnx`:
 * writes a real ONNX model with seeded random weights (tests, benchmarks).
 */
import { Argument, Option } from 'commander';
import { TesseraError } from '../../errors.ts';
import type { RegisterCommand } from '../cli-context.ts';
import { generateModelFile, MODEL_KINDS, type ModelKind } from '../generate-model.ts';
import { formatBytes, parseSize } from '../parse-size.ts';

export const registerGenerate: RegisterCommand = (program, context) => {
  program
    .command('generate')
    .description('write an ONNX model with seeded random weights, for tests and benchmarks')
    .addArgument(new Argument('<kind>', 'model kind').choices(MODEL_KINDS))
    .requiredOption('-o, --out <file>', 'output .onnx file')
    .option('--size <size>', 'total weight size, e.g. 64MiB', '8MiB')
    .option('--seed <n>', 'random seed', '1')
    .addOption(new Option('--layers <n>', 'matmul-chain: number of layers').default('4'))
    .option('--external-data', 'write the weights to <out>.data next to the graph')
    .option('--max-file-size <size>', 'with --external-data: split data files at this size')
    .action(async (kind: ModelKind, flags: { out: string; size: string; seed: string; layers: string; externalData?: boolean; maxFileSize?: string }) => {
      const seed = parseInteger(flags.seed, '--seed');
      const layers = parseInteger(flags.layers, '--layers');
      if (layers < 1) throw new TesseraError('invalid-argument', `--layers must be at least 1, got ${layers}`);
      const sizeBytes = parseSize(flags.size, '--size');
      const maxFileSize = flags.maxFileSize === undefined ? undefined : parseSize(flags.maxFileSize, '--max-file-size');
      const { files, shape } = await generateModelFile({ kind, sizeBytes, seed, layers }, flags.out, { externalData: flags.externalData, maxFileSize });
      context.stdout.write(`generated ${kind} (${Object.entries(shape).map(([k, v]) => `${k}=${v}`).join(', ')}, ~${formatBytes(sizeBytes)}):\n${files.map((f) => `  ${f}`).join('\n')}\n`);
    });
};

function parseInteger(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text)) throw new TesseraError('invalid-argument', `${flag} must be an integer, got "${text}"`);
  return Number(text);
}
