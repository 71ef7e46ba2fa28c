/**
 * The tiny generated LLaMA-style decoder used by the generation tests: the HF
 * folder (src/pack/generate/llama-decoder.ts) and its pack, in a fresh
 * temporary folder, plus what the reference loop needs to know.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLlamaDecoder, type LlamaDecoderOptions, type LlamaDecoderShape } from '../../src/pack/generate/llama-decoder.ts';
import { packModel } from '../../src/pack/pack-model.ts';

export const TINY_LLAMA: LlamaDecoderOptions = { layers: 2, hidden: 64, heads: 4, vocab: 512, maxPositions: 256, seed: 3 };

export interface LlamaFixture {
  root: string;
  /** The HF folder. */
  dir: string;
  /** The pack folder (manifest.json inside). */
  packDir: string;
  modelPath: string;
  shape: LlamaDecoderShape;
  /** Arguments for referenceGreedy(). */
  dims: { layers: number; heads: number; headDim: number };
  close(): Promise<void>;
}

/**
 * @example
 * const fx = await writeLlamaFixture(); // ... await fx.close();
 */
export async function writeLlamaFixture(options: LlamaDecoderOptions = TINY_LLAMA, chunkSize = 64 * 1024): Promise<LlamaFixture> {
  const root = await mkdtemp(join(tmpdir(), 'tessera-llama-'));
  const folder = await writeLlamaDecoder(join(root, 'tiny-llama'), options);
  const packDir = join(root, 'packs', 'tiny-llama');
  await packModel(folder.dir, { out: packDir, chunkSize });
  const { shape } = folder;
  return {
    root,
    dir: folder.dir,
    packDir,
    modelPath: join(folder.dir, 'onnx', 'model.onnx'),
    shape,
    dims: { layers: shape.layers, heads: shape.heads, headDim: shape.hidden / shape.heads },
    close: () => rm(root, { recursive: true, force: true }),
  };
}
