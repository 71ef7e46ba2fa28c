/**
 * The reference the generation loop is checked against: greedy decoding on
 * onnxruntime-node, written as plainly as possible. Prefill with the whole
 * prompt and an empty past, then one token a step, feeding every present.*
 * back as past_key_values.*; the next token is the first index of the largest
 * logit (ties to the lowest id, as the engine breaks them).
 */
import * as ort from 'onnxruntime-node';

export interface ReferenceOptions {
  /** Stop after this many new tokens. */
  maxNewTokens: number;
  /** Stop (and include it) at any of these ids. */
  eosTokenIds?: number[];
}

/**
 * @example
 * const ids = await referenceGreedy('.cache/llama/onnx/model.onnx', [0, 423, 436], { maxNewTokens: 8, layers: 2, heads: 4, headDim: 16 });
 */
export async function referenceGreedy(
  modelPath: string,
  promptIds: number[],
  options: ReferenceOptions & { layers: number; heads: number; headDim: number; /** A model_fp16.onnx: float16 past and logits. */ fp16?: boolean },
): Promise<number[]> {
  const session = await ort.InferenceSession.create(modelPath);
  try {
    const ids = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);
    let past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < options.layers; l++) {
      for (const kv of ['key', 'value']) {
        past[`past_key_values.${l}.${kv}`] = options.fp16
          ? new ort.Tensor('float16', new Uint16Array(0), [1, options.heads, 0, options.headDim])
          : new ort.Tensor('float32', new Float32Array(0), [1, options.heads, 0, options.headDim]);
      }
    }
    const out: number[] = [];
    let input = promptIds;
    let position = 0;
    while (out.length < options.maxNewTokens) {
      const total = position + input.length;
      const results = await session.run({
        input_ids: ids(input),
        attention_mask: ids(new Array(total).fill(1)),
        position_ids: ids(input.map((_, i) => position + i)),
        ...past,
      });
      const logits = results.logits as ort.Tensor;
      const vocab = logits.dims[2] as number;
      const raw = logits.data as Float32Array | Uint16Array;
      const data = raw instanceof Uint16Array ? Float32Array.from(raw, halfToFloat) : raw;
      const last = data.subarray((input.length - 1) * vocab, input.length * vocab);
      let best = 0;
      for (let i = 1; i < vocab; i++) if ((last[i] as number) > (last[best] as number)) best = i;
      out.push(best);
      if (options.eosTokenIds?.includes(best)) break;
      past = {};
      for (let l = 0; l < options.layers; l++) {
        for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = results[`present.${l}.${kv}`] as ort.Tensor;
      }
      position = total;
      input = [best];
    }
    return out;
  } finally {
    await session.release();
  }
}

/** binary16 bits -> number (the textbook formula). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
