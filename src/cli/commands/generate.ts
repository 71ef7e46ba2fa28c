/**
 * `tessera generate <matmul-chain|transformer-block> --size 64MiB --out file.onnx`:
 * writes a real ONNX model with seeded random weights (tests, benchmarks).
 * `tessera generate llama-decoder --out <dir> [--layers --hidden --heads --vocab]`
 * writes a LLaMA-style decoder as a Hugging Face folder (tokenizer, chat template),
 * with `--fp16`, `--q8`, `--q4` its weight variants beside onnx/model.onnx.
 */
import { Argument, Option } from 'commander';
import { TesseraError } from '../../errors.ts';
import type { RegisterCommand } from '../cli-context.ts';
import { generateModelFile, MODEL_KINDS, type ModelKind } from '../generate-model.ts';
import { formatBytes, parseSize } from '../parse-size.ts';
import { writeLlamaDecoder } from '../../pack/generate/llama-decoder.ts';

const KINDS = [...MODEL_KINDS, 'llama-decoder'] as const;

export const registerGenerate: RegisterCommand = (program, context) => {
  program
    .command('generate')
    .description('write an ONNX model with seeded random weights, for tests and benchmarks')
    .addArgument(new Argument('<kind>', 'model kind').choices(KINDS))
    .requiredOption('-o, --out <file>', 'output .onnx file (llama-decoder: output folder)')
    .option('--size <size>', 'total weight size, e.g. 64MiB', '8MiB')
    .option('--seed <n>', 'random seed', '1')
    .addOption(new Option('--layers <n>', 'matmul-chain, llama-decoder: number of layers').default('4'))
    .option('--hidden <n>', 'llama-decoder: hidden size (default 64)')
    .option('--heads <n>', 'llama-decoder: attention heads (default hidden/64, or 4 below 256)')
    .option('--intermediate <n>', 'llama-decoder: MLP width (default ~8/3 hidden)')
    .option('--vocab <n>', 'llama-decoder: vocabulary size (default 512)')
    .option('--max-positions <n>', 'llama-decoder: context length (default 256)')
    .option('--fp16', 'llama-decoder: also write onnx/model_fp16.onnx (float16 weights and I/O)')
    .option('--q8', 'llama-decoder: also write onnx/model_quantized.onnx (int8 weights: MatMulInteger, dynamic activations)')
    .option('--q4', 'llama-decoder: also write onnx/model_q4.onnx (4-bit weights: com.microsoft MatMulNBits)')
    .option('--q4-block-size <n>', 'llama-decoder: with --q4, weights per scale along K (a power of two >= 16)', '32')
    .option('--external-data', 'write the weights to <out>.data next to the graph')
    .option('--max-file-size <size>', 'with --external-data: split data files at this size')
    .action(async (kind: (typeof KINDS)[number], flags: LlamaFlags & { out: string; size: string; seed: string; layers: string; externalData?: boolean; maxFileSize?: string }) => {
      const seed = parseInteger(flags.seed, '--seed');
      const layers = parseInteger(flags.layers, '--layers');
      if (layers < 1) throw new TesseraError('invalid-argument', `--layers must be at least 1, got ${layers}`);
      if (kind === 'llama-decoder') {
        const int = (text: string | undefined, flag: string) => (text === undefined ? undefined : parseInteger(text, flag));
        const options = { layers, seed, hidden: int(flags.hidden, '--hidden'), heads: int(flags.heads, '--heads'), intermediate: int(flags.intermediate, '--intermediate'), vocab: int(flags.vocab, '--vocab'), maxPositions: int(flags.maxPositions, '--max-positions') };
        let folder;
        try {
          const q4 = flags.q4 === true ? { blockSize: parseInteger(flags.q4BlockSize, '--q4-block-size') } : false;
          folder = await writeLlamaDecoder(flags.out, Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)), { fp16: flags.fp16 === true, q8: flags.q8 === true, q4 });
        } catch (err) {
          if (err instanceof RangeError) throw new TesseraError('invalid-argument', err.message);
          throw err;
        }
        const shape = Object.entries(folder.shape).map(([k, v]) => `${k}=${v}`).join(', ');
        context.stdout.write(`generated llama-decoder (${shape}; ${(folder.parameters / 1e6).toFixed(1)}M parameters) in ${flags.out}:\n${folder.files.map((f) => `  ${f}`).join('\n')}\n`);
        return;
      }
      const sizeBytes = parseSize(flags.size, '--size');
      const maxFileSize = flags.maxFileSize === undefined ? undefined : parseSize(flags.maxFileSize, '--max-file-size');
      const { files, shape } = await generateModelFile({ kind: kind as ModelKind, sizeBytes, seed, layers }, flags.out, { externalData: flags.externalData, maxFileSize });
      context.stdout.write(`generated ${kind} (${Object.entries(shape).map(([k, v]) => `${k}=${v}`).join(', ')}, ~${formatBytes(sizeBytes)}):\n${files.map((f) => `  ${f}`).join('\n')}\n`);
    });
};

function parseInteger(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text)) throw new TesseraError('invalid-argument', `${flag} must be an integer, got "${text}"`);
  return Number(text);
}

interface LlamaFlags {
  hidden?: string;
  heads?: string;
  intermediate?: string;
  vocab?: string;
  maxPositions?: string;
  fp16?: boolean;
  q8?: boolean;
  q4?: boolean;
  q4BlockSize: string;
}
