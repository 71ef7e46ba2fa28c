/**
 * The tiny generated LLaMA-style decoder used by the generation tests: the HF
 * folder (src/pack/generate/llama-decoder.ts) and its pack, in a fresh
 * temporary folder, plus what the reference loop needs to know.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLlamaDecoder, type LlamaDecoderOptions, type LlamaDecoderShape, type LlamaWriteOptions } from '../../src/pack/generate/llama-decoder.ts';
import type { DecoderDtype } from '../../src/protocol/worker-messages.ts';
import { packModel } from '../../src/pack/pack-model.ts';

export const TINY_LLAMA: LlamaDecoderOptions = { layers: 2, hidden: 64, heads: 4, vocab: 512, maxPositions: 256, seed: 3 };

export interface LlamaFixture {
  root: string;
  /** The HF folder. */
  dir: string;
  /** The pack folder (manifest.json inside). */
  packDir: string;
  modelPath: string;
  /** Each variant's graph in the HF folder (fp32 always; the others when written). */
  variantPaths: Partial<Record<DecoderDtype, string>>;
  shape: LlamaDecoderShape;
  /** Arguments for referenceGreedy(). */
  dims: { layers: number; heads: number; headDim: number };
  close(): Promise<void>;
}

/**
 * @example
 * const fx = await writeLlamaFixture(); // ... await fx.close();
 * const quant = await writeLlamaFixture(TINY_LLAMA, 64 * 1024, { q8: true, q4: true }); // quant.variantPaths.q4
 */
export async function writeLlamaFixture(options: LlamaDecoderOptions = TINY_LLAMA, chunkSize = 64 * 1024, variants: LlamaWriteOptions = {}): Promise<LlamaFixture> {
  const root = await mkdtemp(join(tmpdir(), 'tessera-llama-'));
  const folder = await writeLlamaDecoder(join(root, 'tiny-llama'), options, variants);
  const packDir = join(root, 'packs', 'tiny-llama');
  await packModel(folder.dir, { out: packDir, chunkSize });
  const { shape } = folder;
  return {
    root,
    dir: folder.dir,
    packDir,
    modelPath: join(folder.dir, 'onnx', 'model.onnx'),
    variantPaths: {
      fp32: join(folder.dir, 'onnx', 'model.onnx'),
      ...(variants.fp16 ? { fp16: join(folder.dir, 'onnx', 'model_fp16.onnx') } : {}),
      ...(variants.q8 ? { q8: join(folder.dir, 'onnx', 'model_quantized.onnx') } : {}),
      ...(variants.q4 ? { q4: join(folder.dir, 'onnx', 'model_q4.onnx') } : {}),
    },
    shape,
    dims: { layers: shape.layers, heads: shape.heads, headDim: shape.hidden / shape.heads },
    close: () => rm(root, { recursive: true, force: true }),
  };
}
