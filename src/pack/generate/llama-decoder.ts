/**
 * `llama-decoder`: a LLaMA-style decoder-only language model (opset 17, fp32,
 * seeded random weights) in the Hugging Face / Optimum layout, because no
 * pretrained text model can be fetched here and generation needs a real one:
 *
 *   config.json               model_type "llama", sizes, max_position_embeddings
 *   generation_config.json    bos/eos ids (eos a list: </s> and <|end|>)
 *   tokenizer.json            a real byte-level BPE (see byte-level-bpe.ts)
 *   tokenizer_config.json     special tokens and a jinja chat_template
 *   onnx/model.onnx (+ .data) inputs input_ids, attention_mask, position_ids,
 *                             past_key_values.N.key/value [batch, heads, past, headDim];
 *                             outputs logits, present.N.key/value [batch, heads, past+seq, headDim]
 *
 * Each layer: RMSNorm -> Q/K/V -> RoPE (rotate-half, as HF LLaMA) on Q and K
 * -> K/V appended to the past -> causal attention that honours attention_mask
 * and the past length -> O + residual -> RMSNorm -> SiLU-gated MLP + residual.
 * Only standard ONNX ops, so it runs on onnxruntime-web (wasm, WebGPU) and
 * onnxruntime-node alike. Weight variants beside it, on request, named as
 * transformers.js names them: model_fp16.onnx (fp16-variant.ts),
 * model_quantized.onnx (q8, q8-variant.ts), model_q4.onnx (q4-variant.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx-types.ts';
import { writeModel } from '../write-model.ts';
import { BOS_TOKEN, CHAT_TEMPLATE, END_OF_TURN_TOKEN, EOS_TOKEN, SPECIAL_TOKENS, byteLevelBpe } from './byte-level-bpe.ts';
import { fp16Variant } from './fp16-variant.ts';
import { q4Variant, type Q4Options } from './q4-variant.ts';
import { q8Variant } from './q8-variant.ts';
import { floatTensor, floatValueInfo, int64Tensor, intAttr, intsAttr, modelOf, node, tensorValueInfo } from './onnx-builder.ts';
import { deriveSeed, randomFloats } from './seeded-random.ts';

export interface LlamaDecoderOptions {
  /** Default 4. */
  layers?: number;
  /** Default 64; a multiple of 2 * heads (RoPE rotates pairs). */
  hidden?: number;
  /** Default 4. */
  heads?: number;
  /** MLP width; default ~8/3 hidden rounded to 32. */
  intermediate?: number;
  /** Default 512 (specials + 256 bytes + merges). */
  vocab?: number;
  /** Default 256. */
  maxPositions?: number;
  seed?: number;
}

export interface LlamaWriteOptions {
  /** Also write onnx/model_fp16.onnx (float16 weights and I/O; see fp16-variant.ts). Default false. */
  fp16?: boolean;
  /** Also write onnx/model_quantized.onnx (int8 MatMulInteger weights, dynamic activations; see q8-variant.ts). Default false. */
  q8?: boolean;
  /** Also write onnx/model_q4.onnx (4-bit MatMulNBits weights; see q4-variant.ts): true for block 32, symmetric. Default false. */
  q4?: boolean | Q4Options;
}

export type LlamaDecoderShape = Required<LlamaDecoderOptions>;


export interface LlamaDecoderFolder {
  dir: string;
  shape: LlamaDecoderShape;
  /** Parameters (float32 weights) in onnx/model.onnx. */
  parameters: number;
  /** Files written, relative to `dir`. */
  files: string[];
}

const ROPE_THETA = 10000;
const RMS_EPS = 1e-5;

/**
 * @example
 * llamaDecoderShape({ hidden: 768, layers: 12, vocab: 32000 }); // heads 12, intermediate 2048, ...
 */
export function llamaDecoderShape(options: LlamaDecoderOptions = {}): LlamaDecoderShape {
  const hidden = options.hidden ?? 64;
  // 64-wide heads as LLaMA has them, or 4 heads for the tiny test sizes.
  const heads = options.heads ?? (hidden >= 256 ? Math.max(1, Math.round(hidden / 64)) : 4);
  const shape: LlamaDecoderShape = {
    layers: options.layers ?? 4,
    hidden,
    heads,
    intermediate: options.intermediate ?? Math.max(32, Math.round((hidden * 8) / 3 / 32) * 32),
    vocab: options.vocab ?? 512,
    maxPositions: options.maxPositions ?? 256,
    seed: options.seed ?? 1,
  };
  if (shape.hidden % (2 * shape.heads) !== 0) throw new RangeError(`hidden (${shape.hidden}) must be a multiple of 2 * heads (${shape.heads})`);
  if (shape.layers < 1) throw new RangeError(`layers must be at least 1, got ${shape.layers}`);
  return shape;
}

/** Parameters of a shape: embeddings, layers, final norm, LM head. */
export function llamaParameterCount(s: LlamaDecoderShape): number {
  const h = s.hidden;
  const layer = 4 * h * h + 3 * h * s.intermediate + 2 * h;
  return 2 * s.vocab * h + s.layers * layer + h;
}

/**
 * Writes the whole HF folder. Weights go to external data (`onnx/model.onnx.data`).
 *
 * @example
 * const { dir, parameters } = await writeLlamaDecoder('.cache/llama-tiny', { layers: 2, hidden: 64 });
 */
export async function writeLlamaDecoder(dir: string, options: LlamaDecoderOptions = {}, write: LlamaWriteOptions = {}): Promise<LlamaDecoderFolder> {
  const shape = llamaDecoderShape(options);
  const tokenizer = byteLevelBpe({ vocabSize: shape.vocab, seed: shape.seed });
  const model = llamaDecoderModel(shape);
  // The variants first: writeModel moves the fp32 model's weights out in place,
  // and a bad variant option (a q4 block size) fails before anything is written.
  const variants: [string, ModelProto][] = [];
  if (write.fp16) variants.push(['model_fp16.onnx', fp16Variant(model)]);
  if (write.q8) variants.push(['model_quantized.onnx', q8Variant(model)]);
  if (write.q4) variants.push(['model_q4.onnx', q4Variant(model, write.q4 === true ? {} : write.q4)]);
  await mkdir(join(dir, 'onnx'), { recursive: true });
  const written = await writeModel(model, join(dir, 'onnx', 'model.onnx'), { externalData: true });
  for (const [file, variant] of variants) written.push(...(await writeModel(variant, join(dir, 'onnx', file), { externalData: true })));
  const id = (t: string) => tokenizer.vocab.get(t) as number;
  const headDim = shape.hidden / shape.heads;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.heads,
    head_dim: headDim,
    hidden_act: 'silu',
    max_position_embeddings: shape.maxPositions,
    rms_norm_eps: RMS_EPS,
    rope_theta: ROPE_THETA,
    vocab_size: shape.vocab,
    bos_token_id: id(BOS_TOKEN),
    eos_token_id: id(EOS_TOKEN),
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
  };
  const generation = { bos_token_id: id(BOS_TOKEN), eos_token_id: [id(EOS_TOKEN), id(END_OF_TURN_TOKEN)], max_length: shape.maxPositions };
  const addedTokensDecoder = Object.fromEntries(
    SPECIAL_TOKENS.map((content) => [String(id(content)), { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }]),
  );
  const tokenizerConfig = {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: BOS_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: null,
    pad_token: EOS_TOKEN,
    add_bos_token: true,
    model_max_length: shape.maxPositions,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: addedTokensDecoder,
    chat_template: CHAT_TEMPLATE,
  };
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.json));
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  const files = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', ...written.map((p) => p.slice(dir.length + 1).replaceAll('\\', '/'))];
  return { dir, shape, parameters: llamaParameterCount(shape), files };
}

/**
 * The graph alone.
 *
 * @example
 * const model = llamaDecoderModel(llamaDecoderShape({ layers: 2 }));
 */
export function llamaDecoderModel(s: LlamaDecoderShape): ModelProto {
  const { hidden: h, heads, layers, intermediate: ff, vocab, maxPositions } = s;
  const hd = h / heads;
  const half = hd / 2;
  let stream = 0;
  const w = (name: string, dims: number[], scale: number): TensorProto =>
    floatTensor(name, dims, randomFloats(dims.reduce((a, b) => a * b, 1), deriveSeed(s.seed, stream++), scale));
  // Norm weights near 1, so the random model is not degenerate but also not plain identity.
  const norm = (name: string): TensorProto => {
    const data = randomFloats(h, deriveSeed(s.seed, stream++), 0.1);
    for (let i = 0; i < h; i++) data[i] = 1 + (data[i] as number);
    return floatTensor(name, [h], data);
  };
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / ROPE_THETA ** ((2 * i) / hd);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  const inits: TensorProto[] = [
    w('model.embed_tokens.weight', [vocab, h], 1),
    floatTensor('rope.cos', [maxPositions, half], cos),
    floatTensor('rope.sin', [maxPositions, half], sin),
    int64Tensor('c.zero', [0]),
    int64Tensor('c.one', [1]),
    int64Tensor('c.axis1', [1]),
    int64Tensor('c.axis0', [0]),
    int64Tensor('c.half', [half]),
    int64Tensor('c.hd', [hd]),
    int64Tensor('c.last', [-1]),
    int64Tensor('c.heads', [0, 0, heads, hd]),
    int64Tensor('c.merge', [0, 0, h]),
    floatTensor('c.eps', [], new Float32Array([RMS_EPS])),
    floatTensor('c.two', [], new Float32Array([2])),
    floatTensor('c.scale', [], new Float32Array([1 / Math.sqrt(hd)])),
    floatTensor('c.zerof', [], new Float32Array([0])),
    floatTensor('c.neg', [], new Float32Array([-1e9])),
  ];
  const nodes: NodeProto[] = [
    node('Gather', ['model.embed_tokens.weight', 'input_ids'], ['h.0']),
    // RoPE tables at the given positions: [b, 1, s, half], broadcast over heads.
    node('Gather', ['rope.cos', 'position_ids'], ['rope.cos.pos']),
    node('Gather', ['rope.sin', 'position_ids'], ['rope.sin.pos']),
    node('Unsqueeze', ['rope.cos.pos', 'c.axis1'], ['rope.c']),
    node('Unsqueeze', ['rope.sin.pos', 'c.axis1'], ['rope.s']),
    // Mask [b, 1, s, total]: key j is visible to query i when j <= past + i and attention_mask[j] is 1.
    node('Shape', ['input_ids'], ['m.ids_shape']),
    node('Gather', ['m.ids_shape', 'c.one'], ['m.seq']), // [1]
    node('Shape', ['attention_mask'], ['m.mask_shape']),
    node('Gather', ['m.mask_shape', 'c.one'], ['m.total']), // [1]
    node('Sub', ['m.total', 'm.seq'], ['m.past']),
    node('Squeeze', ['m.total'], ['m.total.s']),
    node('Squeeze', ['m.past'], ['m.past.s']),
    node('Squeeze', ['c.one'], ['c.one.s']),
    node('Squeeze', ['c.zero'], ['c.zero.s']),
    node('Range', ['c.zero.s', 'm.total.s', 'c.one.s'], ['m.keys']), // [total]
    node('Range', ['m.past.s', 'm.total.s', 'c.one.s'], ['m.queries']), // [s]
    node('Unsqueeze', ['m.keys', 'c.axis0'], ['m.keys.row']), // [1, total]
    node('Unsqueeze', ['m.queries', 'c.axis1'], ['m.queries.col']), // [s, 1]
    node('LessOrEqual', ['m.keys.row', 'm.queries.col'], ['m.causal']), // [s, total]
    node('Cast', ['attention_mask'], ['m.pad'], [intAttr('to', DataType.BOOL)]),
    node('Unsqueeze', ['m.pad', 'c.axis1'], ['m.pad.1']),
    node('Unsqueeze', ['m.pad.1', 'c.axis1'], ['m.pad.2']), // [b, 1, 1, total]
    node('And', ['m.causal', 'm.pad.2'], ['m.allowed']), // [b, 1, s, total]
    node('Where', ['m.allowed', 'c.zerof', 'c.neg'], ['m.bias']),
  ];
  const rmsNorm = (x: string, weight: string, out: string) => {
    nodes.push(
      node('Pow', [x, 'c.two'], [`${out}.sq`]),
      node('ReduceMean', [`${out}.sq`], [`${out}.mean`], [intsAttr('axes', [-1]), intAttr('keepdims', 1)]),
      node('Add', [`${out}.mean`, 'c.eps'], [`${out}.var`]),
      node('Sqrt', [`${out}.var`], [`${out}.rms`]),
      node('Div', [x, `${out}.rms`], [`${out}.n`]),
      node('Mul', [`${out}.n`, weight], [out]),
    );
  };
  // Rotate-half RoPE on [b, heads, s, hd]: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
  const rope = (x: string, out: string) => {
    nodes.push(
      // Slice, not Split: onnxruntime-web's WebGPU Split mis-sized equal halves without explicit sizes.
      node('Slice', [x, 'c.zero', 'c.half', 'c.last'], [`${out}.x1`]),
      node('Slice', [x, 'c.half', 'c.hd', 'c.last'], [`${out}.x2`]),
      node('Mul', [`${out}.x1`, 'rope.c'], [`${out}.a`]),
      node('Mul', [`${out}.x2`, 'rope.s'], [`${out}.b`]),
      node('Sub', [`${out}.a`, `${out}.b`], [`${out}.r1`]),
      node('Mul', [`${out}.x2`, 'rope.c'], [`${out}.c`]),
      node('Mul', [`${out}.x1`, 'rope.s'], [`${out}.d`]),
      node('Add', [`${out}.c`, `${out}.d`], [`${out}.r2`]),
      node('Concat', [`${out}.r1`, `${out}.r2`], [out], [intAttr('axis', -1)]),
    );
  };
  const pastInputs = [];
  const presentOutputs = [];
  let x = 'h.0';
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    inits.push(
      norm(`${p}.input_layernorm.weight`),
      w(`${p}.self_attn.q_proj.weight`, [h, h], 1 / Math.sqrt(h)),
      w(`${p}.self_attn.k_proj.weight`, [h, h], 1 / Math.sqrt(h)),
      w(`${p}.self_attn.v_proj.weight`, [h, h], 1 / Math.sqrt(h)),
      w(`${p}.self_attn.o_proj.weight`, [h, h], 1 / Math.sqrt(h)),
      norm(`${p}.post_attention_layernorm.weight`),
      w(`${p}.mlp.gate_proj.weight`, [h, ff], 1 / Math.sqrt(h)),
      w(`${p}.mlp.up_proj.weight`, [h, ff], 1 / Math.sqrt(h)),
      w(`${p}.mlp.down_proj.weight`, [ff, h], 1 / Math.sqrt(ff)),
    );
    rmsNorm(x, `${p}.input_layernorm.weight`, `${p}.ln1`);
    for (const proj of ['q', 'k', 'v']) {
      nodes.push(
        node('MatMul', [`${p}.ln1`, `${p}.self_attn.${proj}_proj.weight`], [`${p}.${proj}`]),
        node('Reshape', [`${p}.${proj}`, 'c.heads'], [`${p}.${proj}.h`]),
        node('Transpose', [`${p}.${proj}.h`], [`${p}.${proj}.t`], [intsAttr('perm', [0, 2, 1, 3])]), // [b, heads, s, hd]
      );
    }
    rope(`${p}.q.t`, `${p}.q.rope`);
    rope(`${p}.k.t`, `${p}.k.rope`);
    const pastK = `past_key_values.${l}.key`;
    const pastV = `past_key_values.${l}.value`;
    const presentK = `present.${l}.key`;
    const presentV = `present.${l}.value`;
    pastInputs.push(floatValueInfo(pastK, ['batch_size', heads, 'past_sequence_length', hd]), floatValueInfo(pastV, ['batch_size', heads, 'past_sequence_length', hd]));
    presentOutputs.push(
      floatValueInfo(presentK, ['batch_size', heads, 'total_sequence_length', hd]),
      floatValueInfo(presentV, ['batch_size', heads, 'total_sequence_length', hd]),
    );
    nodes.push(
      node('Concat', [pastK, `${p}.k.rope`], [presentK], [intAttr('axis', 2)]),
      node('Concat', [pastV, `${p}.v.t`], [presentV], [intAttr('axis', 2)]),
      node('Transpose', [presentK], [`${p}.kT`], [intsAttr('perm', [0, 1, 3, 2])]),
      node('MatMul', [`${p}.q.rope`, `${p}.kT`], [`${p}.scores`]),
      node('Mul', [`${p}.scores`, 'c.scale'], [`${p}.scores.s`]),
      node('Add', [`${p}.scores.s`, 'm.bias'], [`${p}.scores.m`]),
      node('Softmax', [`${p}.scores.m`], [`${p}.probs`], [intAttr('axis', -1)]),
      node('MatMul', [`${p}.probs`, presentV], [`${p}.ctx`]),
      node('Transpose', [`${p}.ctx`], [`${p}.ctx.t`], [intsAttr('perm', [0, 2, 1, 3])]),
      node('Reshape', [`${p}.ctx.t`, 'c.merge'], [`${p}.ctx.m`]),
      node('MatMul', [`${p}.ctx.m`, `${p}.self_attn.o_proj.weight`], [`${p}.attn`]),
      node('Add', [x, `${p}.attn`], [`${p}.res1`]),
    );
    rmsNorm(`${p}.res1`, `${p}.post_attention_layernorm.weight`, `${p}.ln2`);
    nodes.push(
      node('MatMul', [`${p}.ln2`, `${p}.mlp.gate_proj.weight`], [`${p}.gate`]),
      node('Sigmoid', [`${p}.gate`], [`${p}.gate.sig`]),
      node('Mul', [`${p}.gate`, `${p}.gate.sig`], [`${p}.silu`]),
      node('MatMul', [`${p}.ln2`, `${p}.mlp.up_proj.weight`], [`${p}.up`]),
      node('Mul', [`${p}.silu`, `${p}.up`], [`${p}.act`]),
      node('MatMul', [`${p}.act`, `${p}.mlp.down_proj.weight`], [`${p}.mlp`]),
      node('Add', [`${p}.res1`, `${p}.mlp`], [`${p}.out`]),
    );
    x = `${p}.out`;
  }
  inits.push(norm('model.norm.weight'), w('lm_head.weight', [h, vocab], 4 / Math.sqrt(h)));
  rmsNorm(x, 'model.norm.weight', 'h.final');
  nodes.push(node('MatMul', ['h.final', 'lm_head.weight'], ['logits']));
  const int64 = (name: string, dims: (number | string)[]) => tensorValueInfo(name, DataType.INT64, dims);
  return modelOf({
    name: 'llama_decoder',
    producer: 'tessera-generate',
    nodes,
    initializers: inits,
    inputs: [int64('input_ids', ['batch_size', 'sequence_length']), int64('attention_mask', ['batch_size', 'total_sequence_length']), int64('position_ids', ['batch_size', 'sequence_length']), ...pastInputs],
    outputs: [floatValueInfo('logits', ['batch_size', 'sequence_length', vocab]), ...presentOutputs],
  });
}
