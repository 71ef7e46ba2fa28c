/**
 * A small BERT-style encoder in Hugging Face layout, generated (random,
 * seeded weights) because no pretrained text model ships in an npm package:
 *
 *   config.json            model_type "bert"
 *   tokenizer.json         a real WordPiece tokenizer (tokenizers JSON format)
 *   tokenizer_config.json  BertTokenizer, lower case
 *   onnx/model.onnx        embeddings (word + position + token type, LayerNorm)
 *                          and `layers` post-norm encoder layers (GELU FFN);
 *                          inputs input_ids / attention_mask / token_type_ids
 *                          (int64 [batch, seq]), output last_hidden_state.
 *
 * The graph is built with src/pack's ONNX protobuf types and written with
 * writeModel, so it is the same kind of file transformers.js finds on the hub.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { floatAttr, floatTensor, floatValueInfo, int64Tensor, intAttr, intsAttr, modelOf, node, tensorValueInfo } from '../../src/pack/generate/onnx-builder.ts';
import { deriveSeed, randomFloats } from '../../src/pack/generate/seeded-random.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../../src/pack/onnx-types.ts';
import { writeModel } from '../../src/pack/write-model.ts';

export interface HfEncoderOptions {
  /** Hidden size; a multiple of `heads`. Default 32. */
  hidden?: number;
  heads?: number;
  layers?: number;
  /** FFN width; default 4 * hidden. */
  intermediate?: number;
  maxPositions?: number;
  seed?: number;
}

export interface HfEncoder {
  /** Folder written: `<dir>/config.json`, `<dir>/onnx/model.onnx`, ... */
  dir: string;
  vocab: Map<string, number>;
  hidden: number;
  /** Weight bytes in onnx/model.onnx (float32 initializers). */
  weightBytes: number;
  /** Ids the tokenizer must give for a lower-case sentence of in-vocabulary words (for reference runs). */
  idsOf(sentence: string): number[];
}

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const WORDS = (
  'the a an is are was be to of and in on at for with it this that tessera model weights stream edge browser ' +
  'cache chunk range fast slow hello world cat dog sat mat red blue green text embedding vector search query ' +
  'document sentence token runs loads gpu wasm node worker page'
).split(' ');
const PUNCT = ['.', ',', '!', '?', "'", '-'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');

/** The vocabulary, id order = array order. */
export function hfVocab(): string[] {
  return [...SPECIAL, ...PUNCT, ...WORDS, ...LETTERS, ...LETTERS.map((c) => `##${c}`)];
}

/**
 * Picks a shape whose float32 weights come close to `bytes` (for the benchmark's big model).
 *
 * @example
 * hfEncoderShapeFor(256 << 20); // { hidden: 1024, heads: 16, layers: 6, ... }
 */
export function hfEncoderShapeFor(bytes: number): Required<Pick<HfEncoderOptions, 'hidden' | 'heads' | 'layers'>> {
  const hidden = 1024;
  const perLayer = (4 * hidden * hidden + 2 * hidden * 4 * hidden) * 4;
  return { hidden, heads: 16, layers: Math.max(1, Math.ceil(bytes / perLayer)) };
}

/**
 * @example
 * const enc = await writeHfEncoder('.cache/hf/tiny-bert', { hidden: 32, layers: 2 });
 * // pipeline('feature-extraction', ...) over enc.dir
 */
export async function writeHfEncoder(dir: string, options: HfEncoderOptions = {}): Promise<HfEncoder> {
  const hidden = options.hidden ?? 32;
  const heads = options.heads ?? 4;
  const layers = options.layers ?? 2;
  const intermediate = options.intermediate ?? 4 * hidden;
  const maxPositions = options.maxPositions ?? 128;
  if (hidden % heads !== 0) throw new RangeError(`hidden (${hidden}) must be a multiple of heads (${heads})`);
  const words = hfVocab();
  const vocab = new Map(words.map((w, i) => [w, i]));
  const model = bertModel({ hidden, heads, layers, intermediate, maxPositions, vocabSize: words.length, seed: options.seed ?? 7 });
  const weightBytes = (model.graph?.initializer ?? []).reduce((s, t) => s + (t.raw_data?.byteLength ?? 0), 0);

  await mkdir(join(dir, 'onnx'), { recursive: true });
  await writeModel(model, join(dir, 'onnx', 'model.onnx'));
  const config = {
    architectures: ['BertModel'],
    model_type: 'bert',
    hidden_size: hidden,
    num_attention_heads: heads,
    num_hidden_layers: layers,
    intermediate_size: intermediate,
    hidden_act: 'gelu',
    max_position_embeddings: maxPositions,
    type_vocab_size: 2,
    vocab_size: words.length,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(vocab)));
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: 'BertTokenizer',
      do_lower_case: true,
      model_max_length: maxPositions,
      cls_token: '[CLS]',
      sep_token: '[SEP]',
      pad_token: '[PAD]',
      unk_token: '[UNK]',
      mask_token: '[MASK]',
      clean_up_tokenization_spaces: true,
    }),
  );
  const idsOf = (sentence: string): number[] => {
    const ids = sentence
      .toLowerCase()
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => {
        const id = vocab.get(w);
        if (id === undefined) throw new RangeError(`"${w}" is not a whole word of the test vocabulary`);
        return id;
      });
    return [vocab.get('[CLS]') as number, ...ids, vocab.get('[SEP]') as number];
  };
  return { dir, vocab, hidden, weightBytes, idsOf };
}

function tokenizerJson(vocab: Map<string, number>): unknown {
  const special = (content: string) => ({ id: vocab.get(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const cls = vocab.get('[CLS]');
  const sep = vocab.get('[SEP]');
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab) },
  };
}

function int64Scalar(name: string, value: number): TensorProto {
  return { name, dims: [], data_type: DataType.INT64, raw_data: new Uint8Array(new BigInt64Array([BigInt(value)]).buffer) };
}

function floatScalar(name: string, value: number): TensorProto {
  return floatTensor(name, [], new Float32Array([value]));
}

interface BertShape {
  hidden: number;
  heads: number;
  layers: number;
  intermediate: number;
  maxPositions: number;
  vocabSize: number;
  seed: number;
}

function bertModel(s: BertShape): ModelProto {
  const d = s.hidden;
  const dh = d / s.heads;
  let stream = 0;
  const w = (name: string, dims: number[], scale: number): TensorProto =>
    floatTensor(name, dims, randomFloats(dims.reduce((a, b) => a * b, 1), deriveSeed(s.seed, stream++), scale));
  const ones = (name: string) => floatTensor(name, [d], new Float32Array(d).fill(1));
  const inits: TensorProto[] = [
    w('emb.word', [s.vocabSize, d], 0.5),
    w('emb.pos', [s.maxPositions, d], 0.1),
    w('emb.type', [2, d], 0.1),
    ones('emb.ln.gamma'),
    w('emb.ln.beta', [d], 0.02),
    int64Scalar('c.zero', 0),
    int64Scalar('c.one', 1),
    floatScalar('c.onef', 1),
    floatScalar('c.neg', -10000),
    floatScalar('c.half', 0.5),
    floatScalar('c.sqrt2', Math.SQRT2),
    floatScalar('c.scale', 1 / Math.sqrt(dh)),
    int64Tensor('c.mask_axes', [1, 2]),
    int64Tensor('c.shape_heads', [0, 0, s.heads, dh]),
    int64Tensor('c.shape_merge', [0, 0, d]),
  ];
  const ln = (x: string, p: string, out: string) =>
    node('LayerNormalization', [x, `${p}.gamma`, `${p}.beta`], [out], [intAttr('axis', -1), floatAttr('epsilon', 1e-12)]);
  const nodes: NodeProto[] = [
    node('Gather', ['emb.word', 'input_ids'], ['e.word']),
    node('Shape', ['input_ids'], ['e.shape']),
    node('Gather', ['e.shape', 'c.one'], ['e.seq'], [intAttr('axis', 0)]),
    node('Range', ['c.zero', 'e.seq', 'c.one'], ['e.pos_ids']),
    node('Gather', ['emb.pos', 'e.pos_ids'], ['e.pos']),
    node('Gather', ['emb.type', 'token_type_ids'], ['e.type']),
    node('Add', ['e.word', 'e.pos'], ['e.sum1']),
    node('Add', ['e.sum1', 'e.type'], ['e.sum']),
    ln('e.sum', 'emb.ln', 'h0'),
    // Additive mask: 0 where attended, -10000 at padding, as BERT does.
    node('Cast', ['attention_mask'], ['m.f'], [intAttr('to', DataType.FLOAT)]),
    node('Sub', ['c.onef', 'm.f'], ['m.inv']),
    node('Mul', ['m.inv', 'c.neg'], ['m.add2']),
    node('Unsqueeze', ['m.add2', 'c.mask_axes'], ['m.add']),
  ];
  let h = 'h0';
  for (let l = 0; l < s.layers; l++) {
    const p = `l${l}`;
    inits.push(
      w(`${p}.q`, [d, d], 1 / Math.sqrt(d)),
      w(`${p}.q.b`, [d], 0.02),
      w(`${p}.k`, [d, d], 1 / Math.sqrt(d)),
      w(`${p}.k.b`, [d], 0.02),
      w(`${p}.v`, [d, d], 1 / Math.sqrt(d)),
      w(`${p}.v.b`, [d], 0.02),
      w(`${p}.o`, [d, d], 1 / Math.sqrt(d)),
      w(`${p}.o.b`, [d], 0.02),
      ones(`${p}.ln1.gamma`),
      w(`${p}.ln1.beta`, [d], 0.02),
      w(`${p}.ffn1`, [d, s.intermediate], 1 / Math.sqrt(d)),
      w(`${p}.ffn1.b`, [s.intermediate], 0.02),
      w(`${p}.ffn2`, [s.intermediate, d], 1 / Math.sqrt(s.intermediate)),
      w(`${p}.ffn2.b`, [d], 0.02),
      ones(`${p}.ln2.gamma`),
      w(`${p}.ln2.beta`, [d], 0.02),
    );
    const proj = (x: string, perm: number[]): NodeProto[] => [
      node('MatMul', [h, `${p}.${x}`], [`${p}.${x}.mm`]),
      node('Add', [`${p}.${x}.mm`, `${p}.${x}.b`], [`${p}.${x}.out`]),
      node('Reshape', [`${p}.${x}.out`, 'c.shape_heads'], [`${p}.${x}.heads`]),
      node('Transpose', [`${p}.${x}.heads`], [`${p}.${x}.t`], [intsAttr('perm', perm)]),
    ];
    nodes.push(
      ...proj('q', [0, 2, 1, 3]),
      ...proj('k', [0, 2, 3, 1]),
      ...proj('v', [0, 2, 1, 3]),
      node('MatMul', [`${p}.q.t`, `${p}.k.t`], [`${p}.scores`]),
      node('Mul', [`${p}.scores`, 'c.scale'], [`${p}.scaled`]),
      node('Add', [`${p}.scaled`, 'm.add'], [`${p}.masked`]),
      node('Softmax', [`${p}.masked`], [`${p}.probs`], [intAttr('axis', -1)]),
      node('MatMul', [`${p}.probs`, `${p}.v.t`], [`${p}.ctx.heads`]),
      node('Transpose', [`${p}.ctx.heads`], [`${p}.ctx.t`], [intsAttr('perm', [0, 2, 1, 3])]),
      node('Reshape', [`${p}.ctx.t`, 'c.shape_merge'], [`${p}.ctx`]),
      node('MatMul', [`${p}.ctx`, `${p}.o`], [`${p}.attn.mm`]),
      node('Add', [`${p}.attn.mm`, `${p}.o.b`], [`${p}.attn`]),
      node('Add', [h, `${p}.attn`], [`${p}.res1`]),
      ln(`${p}.res1`, `${p}.ln1`, `${p}.h1`),
      node('MatMul', [`${p}.h1`, `${p}.ffn1`], [`${p}.f1.mm`]),
      node('Add', [`${p}.f1.mm`, `${p}.ffn1.b`], [`${p}.f1`]),
      // GELU (erf form), spelled out: the Gelu op needs opset 20.
      node('Div', [`${p}.f1`, 'c.sqrt2'], [`${p}.g.div`]),
      node('Erf', [`${p}.g.div`], [`${p}.g.erf`]),
      node('Add', [`${p}.g.erf`, 'c.onef'], [`${p}.g.add`]),
      node('Mul', [`${p}.f1`, `${p}.g.add`], [`${p}.g.mul`]),
      node('Mul', [`${p}.g.mul`, 'c.half'], [`${p}.gelu`]),
      node('MatMul', [`${p}.gelu`, `${p}.ffn2`], [`${p}.f2.mm`]),
      node('Add', [`${p}.f2.mm`, `${p}.ffn2.b`], [`${p}.f2`]),
      node('Add', [`${p}.h1`, `${p}.f2`], [`${p}.res2`]),
    );
    const out = l === s.layers - 1 ? 'last_hidden_state' : `${p}.h`;
    nodes.push(ln(`${p}.res2`, `${p}.ln2`, out));
    h = out;
  }
  return modelOf({
    name: 'bert_encoder', producer: 'tessera-test-hf-encoder', nodes, initializers: inits,
    inputs: ['input_ids', 'attention_mask', 'token_type_ids'].map((n) => tensorValueInfo(n, DataType.INT64, ['batch', 'seq'])),
    outputs: [floatValueInfo('last_hidden_state', ['batch', 'seq', d])],
  });
}
