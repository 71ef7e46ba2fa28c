/**
 * The quantized weight variants of the tiny generated decoder, loaded through
 * Tessera's loader by dtype in Node: q8 (onnx/model_quantized.onnx,
 * MatMulInteger) and q4 (onnx/model_q4.onnx, MatMulNBits) each download only
 * their own graph and weights, report the dtype they loaded, and generate
 * greedily the same tokens as the onnxruntime-node reference loop over the
 * same variant file, on onnxruntime-web's wasm and on native onnxruntime-node.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTextTokenizer, type TextTokenizer } from '../../src/backend/hf-tokenizer.ts';
import type { Engine, TextGenerator } from '../../src/engine/engine.ts';
import { createInProcessEngine } from '../../src/engine/in-process-engine.ts';
import { TINY_LLAMA, writeLlamaFixture, type LlamaFixture } from '../helpers/llama-fixture.ts';
import { startRangeServer, type RangeServer } from '../helpers/range-server.ts';
import { referenceGreedy } from '../helpers/reference-decoder.ts';

let fx: LlamaFixture;
let server: RangeServer;
let tokenizer: TextTokenizer;
let eosTokenIds: number[];
const PROMPTS = ['hello world, the cat sat on the mat', 'Héllo 😀 wörld'];
const NEW_TOKENS = 16;
const GRAPHS = { q8: 'onnx/model_quantized.onnx', q4: 'onnx/model_q4.onnx' } as const;

beforeAll(async () => {
  fx = await writeLlamaFixture(TINY_LLAMA, 64 * 1024, { q8: true, q4: true });
  server = await startRangeServer({ root: join(fx.root, 'packs') });
  const json = async (name: string) => JSON.parse(await readFile(join(fx.dir, name), 'utf8'));
  tokenizer = createTextTokenizer({ tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json') });
  eosTokenIds = (await json('generation_config.json')).eos_token_id;
});

afterAll(async () => {
  await server?.close();
  await fx?.close();
});

async function greedy(llm: TextGenerator, prompt: string): Promise<number[]> {
  const stream = llm.generate({ prompt, maxNewTokens: NEW_TOKENS });
  const ids: number[] = [];
  for await (const c of stream) ids.push(...c.tokenIds);
  const result = await stream.result;
  // A stop at EOS does not stream the EOS token; the reference includes it.
  return result.finishReason === 'stop' ? [...ids, -1] : ids;
}

async function expectReference(llm: TextGenerator, dtype: 'q8' | 'q4') {
  for (const prompt of PROMPTS) {
    const want = await referenceGreedy(fx.variantPaths[dtype] as string, tokenizer.encode(prompt), { maxNewTokens: NEW_TOKENS, eosTokenIds, ...fx.dims });
    const got = await greedy(llm, prompt);
    expect(got.length, prompt).toBe(want.length);
    if (got[got.length - 1] === -1) {
      // Stopped at EOS: the reference's last token must be one.
      expect(eosTokenIds, `${dtype}: ${prompt}`).toContain(want[want.length - 1]);
      expect(got.slice(0, -1), `${dtype}: ${prompt}`).toEqual(want.slice(0, -1));
    } else expect(got, `${dtype}: ${prompt}`).toEqual(want);
  }
}

describe('quantized decoder variants (Node)', () => {
  it('the variants are not the fp32 model under another name: q4 changes the greedy ids', async () => {
    const ids = tokenizer.encode(PROMPTS[0] as string);
    const options = { maxNewTokens: NEW_TOKENS, eosTokenIds, ...fx.dims };
    expect(await referenceGreedy(fx.variantPaths.q4 as string, ids, options)).not.toEqual(await referenceGreedy(fx.modelPath, ids, options));
  });

  for (const dtype of ['q8', 'q4'] as const) {
    it(`dtype ${dtype} on wasm loads ${GRAPHS[dtype]} alone, says so, and matches its reference loop`, async () => {
      const engine: Engine = createInProcessEngine();
      try {
        const before = Object.keys(server.stats().byPath);
        const llm = await engine.loadGenerator(`${server.url}/tiny-llama/manifest.json`, { device: 'wasm', cache: { type: 'memory' }, dtype });
        const fetched = Object.keys(server.stats().byPath).filter((p) => !before.includes(p));
        expect(llm).toMatchObject({ dtype, graph: GRAPHS[dtype], device: 'wasm' });
        expect(fetched.some((p) => p.endsWith(`/${GRAPHS[dtype]}.data`))).toBe(true);
        expect(fetched.filter((p) => /\/onnx\/model[^/]*$/.test(p) && !p.includes(GRAPHS[dtype]))).toEqual([]);
        await expectReference(llm, dtype);
      } finally {
        await engine.dispose();
      }
    });
  }

  it('q8 and q4 on native onnxruntime-node sessions match the same references', async () => {
    const { nodeSessionFactory } = await import('../../src/backend/node-session.ts');
    const engine = createInProcessEngine({ createSession: nodeSessionFactory({ threads: 1 }) });
    try {
      for (const dtype of ['q8', 'q4'] as const) {
        const llm = await engine.loadGenerator(`${server.url}/tiny-llama/manifest.json`, { device: 'cpu', cache: { type: 'memory' }, dtype });
        expect(llm).toMatchObject({ dtype, graph: GRAPHS[dtype], device: 'cpu' });
        await expectReference(llm, dtype);
        await llm.dispose();
      }
    } finally {
      await engine.dispose();
    }
  });
});
