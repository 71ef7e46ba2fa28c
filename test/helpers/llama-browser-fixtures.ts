/**
 * The tiny LLaMA-style decoder for the browser tests (built in Node by the
 * global setup): packed and served by a range server, with the greedy ids
 * onnxruntime-node's reference loop gives for a few prompts, written as
 * `expected.json` next to the pack (served too, not part of the pack).
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

export interface LlamaExpected {
  prompts: { prompt: string; promptIds: number[]; greedyIds: number[] }[];
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
  const fx = await writeLlamaFixture();
  const json = async (name: string) => JSON.parse(await readFile(join(fx.dir, name), 'utf8'));
  const tokenizer = createTextTokenizer({ tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json') });
  const eosTokenIds = (await json('generation_config.json')).eos_token_id as number[];
  const prompts = [];
  for (const prompt of LLAMA_PROMPTS) {
    const promptIds = tokenizer.encode(prompt);
    prompts.push({ prompt, promptIds, greedyIds: await referenceGreedy(fx.modelPath, promptIds, { maxNewTokens: LLAMA_NEW_TOKENS, eosTokenIds, ...fx.dims }) });
  }
  const expected: LlamaExpected = { prompts, maxNewTokens: LLAMA_NEW_TOKENS, eosTokenIds, dims: fx.dims };
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
