/**
 * The tiny LLaMA-style decoder for the browser tests (built in Node by the
 * global setup): packed and served by a range server, with the greedy ids
 * onnxruntime-node's reference loop gives for a few prompts, written as
 * `expected.json` next to the pack (served too, not part of the pack). The
 * pack carries the q8 (model_quantized.onnx) and q4 (model_q4.onnx) variants
 * beside fp32, each with its own reference ids, computed over that variant's file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTextTokenizer } from '../../src/backend/hf-tokenizer.ts';
import { writeLlamaFixture } from './llama-fixture.ts';
import { startRangeServer } from './range-server.ts';
import { referenceGreedy } from './reference-decoder.ts';

export const LLAMA_PROMPTS = ['hello world, the cat sat on the mat', 'Héllo 😀 wörld'];
/** SwiftShader runs WebGPU on the CPU, slowly: few tokens. */
export const LLAMA_NEW_TOKENS = 8;

export type LlamaExpectedPrompt = { prompt: string; promptIds: number[]; greedyIds: number[] };

/** The quantized variants the browser pack carries. */
export const LLAMA_QUANT_DTYPES = ['q8', 'q4'] as const;

export interface LlamaExpected {
  /** fp32 (onnx/model.onnx). */
  prompts: LlamaExpectedPrompt[];
  /** The same prompts on each quantized variant, referenced over its own graph. */
  variants: Record<(typeof LLAMA_QUANT_DTYPES)[number], LlamaExpectedPrompt[]>;
  maxNewTokens: number;
  eosTokenIds: number[];
  /** What the KV check needs to shape an empty past. */
  dims: { layers: number; heads: number; headDim: number };
}

/**
 * @example
 * const llama = await startLlamaFixtures(); project.provide('llamaPackUrl', llama.packUrl);
 */
export async function startLlamaFixtures(): Promise<{ packUrl: string; close(): Promise<void> }> {
  const fx = await writeLlamaFixture(undefined, undefined, { q8: true, q4: true });
  const json = async (name: string) => JSON.parse(await readFile(join(fx.dir, name), 'utf8'));
  const tokenizer = createTextTokenizer({ tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json') });
  const eosTokenIds = (await json('generation_config.json')).eos_token_id as number[];
  const reference = async (modelPath: string) => {
    const prompts: LlamaExpectedPrompt[] = [];
    for (const prompt of LLAMA_PROMPTS) {
      const promptIds = tokenizer.encode(prompt);
      prompts.push({ prompt, promptIds, greedyIds: await referenceGreedy(modelPath, promptIds, { maxNewTokens: LLAMA_NEW_TOKENS, eosTokenIds, ...fx.dims }) });
    }
    return prompts;
  };
  const variants = {} as LlamaExpected['variants'];
  for (const dtype of LLAMA_QUANT_DTYPES) variants[dtype] = await reference(fx.variantPaths[dtype] as string);
  const expected: LlamaExpected = { prompts: await reference(fx.modelPath), variants, maxNewTokens: LLAMA_NEW_TOKENS, eosTokenIds, dims: fx.dims };
  await writeFile(join(fx.root, 'packs', 'tiny-llama-expected.json'), JSON.stringify(expected));
  const server = await startRangeServer({ root: join(fx.root, 'packs') });
  return {
    packUrl: `${server.url}/tiny-llama/manifest.json`,
    async close() {
      await server.close();
      await fx.close();
    },
  };
}
