/**
 * The generated decoder is a real one, checked in onnxruntime-node: the KV
 * cache gives the same logits as recomputing the whole sequence, the
 * attention mask hides padded keys, and the folder's tokenizer and chat
 * template load with Hugging Face's own code.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTextTokenizer } from '../../backend/hf-tokenizer.ts';
import { writeLlamaDecoder, llamaParameterCount, llamaDecoderShape, type LlamaDecoderFolder } from './llama-decoder.ts';

let dir: string;
let folder: LlamaDecoderFolder;
let session: ort.InferenceSession;
const shape = { layers: 2, hidden: 32, heads: 4, vocab: 300, maxPositions: 64, seed: 5 };
const headDim = 8;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-llama-gen-'));
  folder = await writeLlamaDecoder(join(dir, 'llama'), shape);
  session = await ort.InferenceSession.create(join(folder.dir, 'onnx', 'model.onnx'));
});
afterAll(async () => {
  await session?.release();
  await rm(dir, { recursive: true, force: true });
});

const ints = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
const emptyPast = () => Object.fromEntries(
  Array.from({ length: shape.layers }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, shape.heads, 0, headDim])])).flat(),
);
const lastLogits = (out: ort.InferenceSession.ReturnType) => {
  const t = out.logits as ort.Tensor;
  const data = t.data as Float32Array;
  return Array.from(data.subarray(data.length - shape.vocab));
};
const close = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - (b[i] as number))));

describe('llama-decoder', () => {
  it('writes the HF layout with the sizes asked for', async () => {
    expect(folder.files).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model.onnx.data']);
    const config = JSON.parse(await readFile(join(folder.dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', num_hidden_layers: 2, num_attention_heads: 4, hidden_size: 32, vocab_size: 300, max_position_embeddings: 64 });
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
    expect(session.outputNames).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    // The benchmark's size: >= 100M parameters.
    expect(llamaParameterCount(llamaDecoderShape({ hidden: 768, layers: 12, vocab: 32000 }))).toBeGreaterThan(100e6);
  });

  it('the KV cache gives the logits of a full recompute', async () => {
    const ids = [0, 17, 200, 45, 99, 3, 250];
    const full = await session.run({ input_ids: ints(ids), attention_mask: ints(ids.map(() => 1)), position_ids: ints(ids.map((_, i) => i)), ...emptyPast() });
    const prefix = ids.slice(0, 5);
    const first = await session.run({ input_ids: ints(prefix), attention_mask: ints(prefix.map(() => 1)), position_ids: ints(prefix.map((_, i) => i)), ...emptyPast() });
    let past = Object.fromEntries(Object.entries(first).filter(([k]) => k.startsWith('present.')).map(([k, v]) => [k.replace('present.', 'past_key_values.'), v]));
    let out = first;
    for (let i = 5; i < ids.length; i++) {
      out = await session.run({ input_ids: ints([ids[i] as number]), attention_mask: ints(new Array(i + 1).fill(1)), position_ids: ints([i]), ...past });
      past = Object.fromEntries(Object.entries(out).filter(([k]) => k.startsWith('present.')).map(([k, v]) => [k.replace('present.', 'past_key_values.'), v]));
    }
    expect((out['present.0.key'] as ort.Tensor).dims).toEqual([1, shape.heads, ids.length, headDim]);
    expect(close(lastLogits(out), lastLogits(full))).toBeLessThan(1e-4);
    // Not degenerate: the last logits spread out.
    const last = lastLogits(full);
    expect(Math.max(...last) - Math.min(...last)).toBeGreaterThan(1);
  });

  it('attention_mask hides padded keys (left padding with shifted positions changes nothing)', async () => {
    const ids = [0, 40, 41, 42];
    const plain = await session.run({ input_ids: ints(ids), attention_mask: ints([1, 1, 1, 1]), position_ids: ints([0, 1, 2, 3]), ...emptyPast() });
    const padded = await session.run({ input_ids: ints([1, 1, ...ids]), attention_mask: ints([0, 0, 1, 1, 1, 1]), position_ids: ints([0, 0, 0, 1, 2, 3]), ...emptyPast() });
    expect(close(lastLogits(padded), lastLogits(plain))).toBeLessThan(1e-4);
    // And the mask is not ignored: unmasking the padding changes the result.
    const unmasked = await session.run({ input_ids: ints([1, 1, ...ids]), attention_mask: ints([1, 1, 1, 1, 1, 1]), position_ids: ints([0, 0, 0, 1, 2, 3]), ...emptyPast() });
    expect(close(lastLogits(unmasked), lastLogits(plain))).toBeGreaterThan(1e-3);
  });

  it('its tokenizer.json and chat template load with Hugging Face code', async () => {
    const tok = createTextTokenizer({
      tokenizerJson: JSON.parse(await readFile(join(folder.dir, 'tokenizer.json'), 'utf8')),
      tokenizerConfig: JSON.parse(await readFile(join(folder.dir, 'tokenizer_config.json'), 'utf8')),
    });
    const ids = tok.encode('hello world 😀');
    expect(ids[0]).toBe(0);
    expect(ids.every((id) => id < shape.vocab)).toBe(true);
    expect(tok.decode(ids)).toBe('hello world 😀');
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('<s><|user|>\nhi<|end|>\n<|assistant|>\n');
    expect(tok.tokenId('<|end|>')).toBe(5);
  });
});
