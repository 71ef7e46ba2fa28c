/**
 * Hugging Face fixtures for the browser tests (built in Node by the global
 * setup): the generated tiny BERT encoder in HF layout, served by the hub
 * look-alike (`/test/tiny-bert/resolve/main/...`) and as a Tessera pack
 * (`/tiny-bert/manifest.json` on a range server), plus the reference
 * embeddings onnxruntime-node computes for SENTENCES, written next to the
 * model as `expected.json` (served by the hub too).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packModel } from '../../src/pack/pack-model.ts';
import { writeHfEncoder, type HfEncoder } from './hf-model.ts';
import { startHfServer } from './hf-server.ts';
import { startRangeServer } from './range-server.ts';

export const HF_SENTENCES = ['hello world', 'the cat sat on the mat', 'tessera loads model weights fast'];
export const HF_MODEL_ID = 'test/tiny-bert';
export const HF_CHUNK_SIZE = 64 * 1024;

export interface HfExpected {
  sentences: string[];
  hidden: number;
  /** Mean-pooled, L2-normalised embeddings, one row per sentence. */
  embeddings: number[][];
  weightBytes: number;
}

export interface HfFixtures {
  /** The hub look-alike's base URL (`<url>/test/tiny-bert/resolve/main/`). */
  hubUrl: string;
  /** The pack's manifest URL. */
  packUrl: string;
  close(): Promise<void>;
}

/**
 * Mean-pooled, L2-normalised last_hidden_state from onnxruntime-node, one sentence at a time (no padding).
 *
 * @example
 * const rows = await referenceEmbeddings(enc, join(enc.dir, 'onnx/model.onnx'), ['hello world']);
 */
export async function referenceEmbeddings(enc: HfEncoder, modelPath: string, sentences: string[]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(modelPath);
  try {
    const out: number[][] = [];
    for (const s of sentences) {
      const ids = enc.idsOf(s);
      const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
      const { last_hidden_state: h } = await session.run({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) });
      const data = (h as ort.Tensor).data as Float32Array;
      const mean = new Array<number>(enc.hidden).fill(0);
      for (let i = 0; i < ids.length; i++) for (let j = 0; j < enc.hidden; j++) mean[j]! += (data[i * enc.hidden + j] as number) / ids.length;
      const norm = Math.hypot(...mean);
      out.push(mean.map((x) => x / norm));
    }
    return out;
  } finally {
    await session.release();
  }
}

/**
 * In a fresh temporary folder (so concurrent runs never share files).
 *
 * @example
 * const hf = await startHfFixtures(); project.provide('hfServerUrl', hf.hubUrl);
 */
export async function startHfFixtures(): Promise<HfFixtures> {
  const root = await mkdtemp(join(tmpdir(), 'tessera-hf-browser-'));
  const enc = await writeHfEncoder(join(root, 'hf', 'tiny-bert'), { hidden: 32, heads: 4, layers: 2 });
  await packModel(enc.dir, { out: join(root, 'packs', 'tiny-bert'), chunkSize: HF_CHUNK_SIZE });
  const embeddings = await referenceEmbeddings(enc, join(enc.dir, 'onnx', 'model.onnx'), HF_SENTENCES);
  const expected: HfExpected = { sentences: HF_SENTENCES, hidden: enc.hidden, embeddings, weightBytes: enc.weightBytes };
  // Written after packing, so it is served by the hub but is not part of the pack.
  await writeFile(join(enc.dir, 'expected.json'), JSON.stringify(expected));
  const hub = await startHfServer({ repos: { [HF_MODEL_ID]: enc.dir } });
  const packs = await startRangeServer({ root: join(root, 'packs') });
  return {
    hubUrl: hub.url,
    packUrl: `${packs.url}/tiny-bert/manifest.json`,
    async close() {
      await Promise.all([hub.close(), packs.close()]);
      await rm(root, { recursive: true, force: true });
    },
  };
}
