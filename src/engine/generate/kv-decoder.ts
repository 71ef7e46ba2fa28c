/**
 * One generation's pass over a decoder session: the prompt in one run
 * (prefill), then one token a run, each run's `present.N.key/value` fed back
 * as the next run's `past_key_values.N.key/value`. The KV cache stays where
 * ORT made it: with `runKeeping`, as ORT tensors (GPU buffers on WebGPU, the
 * session created with `gpuOutputs`), each step's old cache freed once the
 * step that read it has finished. A session without `runKeeping` gets the
 * cache back as plain tensors (one copy per step).
 */
import type { KeptTensor, OrtSession } from '../../backend/ort.ts';
import { TesseraError } from '../../errors.ts';
import type { TensorData, TensorMap } from '../../protocol/tensor.ts';
import type { DecoderConfig } from './decoder-config.ts';

export interface KvDecoder {
  /** Runs `ids` after what came before; returns the logits of the last position. */
  step(ids: readonly number[], signal?: AbortSignal): Promise<Float32Array>;
  /** Tokens in the cache. */
  readonly length: number;
  /** Where the cache lives now: ORT's `Tensor.location` (`gpu-buffer`, `cpu`), or `js` when copied out. */
  readonly cacheLocation: string;
  /** Frees the cache. */
  dispose(): void;
}

/** `present.3.key` <- output, `past_key_values.3.key` <- its input: the pairs a session has. */
export function cacheNames(inputNames: readonly string[]): { past: string; present: string }[] {
  return inputNames
    .filter((name) => name.startsWith('past_key_values.'))
    .map((past) => ({ past, present: past.replace(/^past_key_values\./, 'present.') }));
}

/**
 * @example
 * const decoder = createKvDecoder(session, config);
 * let logits = await decoder.step(promptIds);
 * logits = await decoder.step([nextId]);
 * decoder.dispose();
 */
export function createKvDecoder(session: OrtSession, config: DecoderConfig): KvDecoder {
  const names = cacheNames(session.inputNames);
  const missing = names.filter((n) => !session.outputNames.includes(n.present));
  if (names.length === 0 || missing.length > 0) {
    throw new TesseraError('invalid-model', `the graph is not a decoder with a KV cache: it needs past_key_values.N.key/value inputs and present.N.key/value outputs (inputs: ${session.inputNames.join(', ')})`);
  }
  const cacheType = session.inputMetadata.find((m) => m.name === names[0]?.past)?.type === 'float16' ? 'float16' : 'float32';
  const hasMask = session.inputNames.includes('attention_mask');
  const hasPositions = session.inputNames.includes('position_ids');
  const hasCacheBranch = session.inputNames.includes('use_cache_branch');
  const presentNames = names.map((n) => n.present);
  let length = 0;
  let cache: Record<string, TensorData | KeptTensor> = {};
  let location = 'js';
  for (const { past } of names) cache[past] = emptyPast(cacheType, config);

  const dropCache = () => {
    for (const t of Object.values(cache)) if ('kept' in t) t.dispose();
    cache = {};
  };

  return {
    get length() {
      return length;
    },
    get cacheLocation() {
      return location;
    },
    async step(ids, signal) {
      if (ids.length === 0) throw new TesseraError('invalid-argument', 'a decoder step needs at least one token');
      const total = length + ids.length;
      const feeds: Record<string, TensorData | KeptTensor> = { input_ids: int64([...ids]), ...cache };
      if (hasMask) feeds.attention_mask = int64(new Array<number>(total).fill(1));
      if (hasPositions) feeds.position_ids = int64(ids.map((_, i) => length + i));
      if (hasCacheBranch) feeds.use_cache_branch = { type: 'bool', dims: [1], data: new Uint8Array([length > 0 ? 1 : 0]) };
      let outputs: TensorMap;
      let next: Record<string, TensorData | KeptTensor>;
      if (session.runKeeping) {
        const result = await session.runKeeping(feeds, presentNames, signal ? { signal } : {});
        outputs = result.outputs;
        next = Object.fromEntries(names.map(({ past, present }) => [past, result.kept[present] as KeptTensor]));
        location = (result.kept[presentNames[0] as string] as KeptTensor).location;
      } else {
        outputs = await session.run(feeds as TensorMap, signal ? { signal } : {});
        next = Object.fromEntries(names.map(({ past, present }) => [past, outputs[present] as TensorData]));
      }
      // The run has finished reading the old cache: free it now, not at the end.
      dropCache();
      cache = next;
      length = total;
      const logits = outputs.logits;
      if (!logits) throw new TesseraError('invalid-model', `the decoder has no "logits" output (outputs: ${session.outputNames.join(', ')})`);
      const vocab = logits.dims[logits.dims.length - 1] as number;
      const rows = logits.data.length / vocab;
      return lastRow(logits, rows - 1, vocab);
    },
    dispose: dropCache,
  };
}

function emptyPast(type: 'float32' | 'float16', config: DecoderConfig): TensorData {
  const dims = [1, config.kvHeads, 0, config.headDim];
  return type === 'float16' ? { type, dims, data: new Uint16Array(0) } : { type, dims, data: new Float32Array(0) };
}

function int64(values: number[]): TensorData {
  return { type: 'int64', dims: [1, values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function lastRow(logits: TensorData, row: number, vocab: number): Float32Array {
  if (logits.type === 'float32') return (logits.data as Float32Array).slice(row * vocab, (row + 1) * vocab);
  if (logits.type === 'float16') {
    const bits = (logits.data as Uint16Array).subarray(row * vocab, (row + 1) * vocab);
    return Float32Array.from(bits, halfToFloat);
  }
  throw new TesseraError('invalid-model', `logits must be float32 or float16, got ${logits.type}`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
