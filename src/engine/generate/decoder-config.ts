/**
 * What the loop needs from a Hugging Face decoder folder's `config.json` and
 * `generation_config.json`, converted to camelCase at this boundary: layers,
 * KV heads and head size (to shape the empty past), the context length, and
 * the EOS ids (an int or a list in either file).
 */
import { TesseraError } from '../../errors.ts';

export interface DecoderConfig {
  modelType: string;
  layers: number;
  /** Heads of the KV cache (`num_key_value_heads`, else `num_attention_heads`). */
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Longest prompt + output, in tokens (`max_position_embeddings`). */
  contextLength: number;
  eosTokenIds: number[];
  bosTokenId?: number;
}

/**
 * @example
 * const cfg = parseDecoderConfig(JSON.parse(configJson), JSON.parse(generationConfigJson));
 * cfg.eosTokenIds; // [1, 5]
 */
export function parseDecoderConfig(config: Record<string, unknown>, generation: Record<string, unknown> = {}): DecoderConfig {
  const fail = (message: string): never => {
    throw new TesseraError('invalid-model', `config.json: ${message}`, { details: { file: 'config.json' } });
  };
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) return fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  // Names differ across model families (GPT-2's n_layer, n_head, n_positions).
  const layers = int('num_hidden_layers', config.n_layer as number | undefined);
  const heads = int('num_attention_heads', config.n_head as number | undefined);
  const hidden = int('hidden_size', (config.n_embd as number | undefined) ?? (config.d_model as number | undefined));
  const kvHeads = int('num_key_value_heads', heads);
  const headDim = int('head_dim', Math.floor(hidden / heads));
  const contextLength = int('max_position_embeddings', (config.n_positions as number | undefined) ?? (config.n_ctx as number | undefined));
  const eos = generation.eos_token_id ?? config.eos_token_id;
  const eosTokenIds = (Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]).filter((v): v is number => typeof v === 'number');
  const bos = generation.bos_token_id ?? config.bos_token_id;
  return {
    modelType: typeof config.model_type === 'string' ? config.model_type : 'unknown',
    layers,
    kvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    contextLength,
    eosTokenIds,
    ...(typeof bos === 'number' ? { bosTokenId: bos } : {}),
  };
}
