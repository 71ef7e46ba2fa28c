/**
 * A real byte-level BPE `tokenizer.json` (the GPT-2 / LLaMA-3 kind) for the
 * generated decoder: 256 byte tokens, merges that make common English words
 * single tokens, then seeded merges of existing tokens until the vocabulary
 * reaches the size asked for (the model's `vocab_size`), and the chat
 * template's special tokens as added tokens. Any byte string encodes, so any
 * token id the model picks decodes; a character of several UTF-8 bytes can
 * arrive split across tokens, as with real byte-level models.
 */
import { seededRandom } from '../../seeded-random.ts';

/** Special tokens, ids 0.. in this order. */
export const SPECIAL_TOKENS = ['<s>', '</s>', '<|system|>', '<|user|>', '<|assistant|>', '<|end|>'] as const;
export const BOS_TOKEN = '<s>';
export const EOS_TOKEN = '</s>';
/** The end-of-turn token the chat template writes after each message; also an EOS of generation_config.json. */
export const END_OF_TURN_TOKEN = '<|end|>';

/** Zephyr-style template: one `<|role|>` line per message, `<|end|>` after each, `<|assistant|>` to answer. */
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}" +
  "{{ raise_exception('unknown role ' + message['role']) }}{% endif %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n" +
  '{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}';

const WORDS = (
  'the a an is are was be to of and in on at for with it this that tessera model weights stream edge browser cache ' +
  'chunk range fast slow hello world cat dog sat mat red blue green text token runs loads gpu wasm node worker page ' +
  'you I we what how why when where who can will do not yes no please tell me about story once upon time there'
).split(' ');

/** GPT-2's byte -> printable character table (bytes_to_unicode), so every byte is a visible vocabulary entry. */
export function byteToUnicode(): string[] {
  const table: string[] = new Array(256);
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + extra++);
  return table;
}

export interface ByteLevelBpe {
  /** Token string -> id; size = `vocabSize`. */
  vocab: Map<string, number>;
  merges: [string, string][];
  /** The tokenizer.json document. */
  json: unknown;
}

/**
 * @example
 * const { json, vocab } = byteLevelBpe({ vocabSize: 512, seed: 1 });
 * await writeFile('tokenizer.json', JSON.stringify(json));
 */
export function byteLevelBpe(options: { vocabSize: number; seed: number }): ByteLevelBpe {
  const base = SPECIAL_TOKENS.length + 256;
  if (options.vocabSize < base) throw new RangeError(`vocabSize must be at least ${base} (specials + 256 bytes), got ${options.vocabSize}`);
  const bytes = byteToUnicode();
  const vocab = new Map<string, number>();
  const tokens: string[] = [];
  const add = (t: string) => {
    vocab.set(t, tokens.length);
    tokens.push(t);
  };
  SPECIAL_TOKENS.forEach(add);
  bytes.forEach(add);
  const merges: [string, string][] = [];
  const merge = (a: string, b: string): boolean => {
    if (vocab.size >= options.vocabSize || vocab.has(a + b)) return false;
    merges.push([a, b]);
    add(a + b);
    return true;
  };
  const encodeBytes = (s: string) => [...new TextEncoder().encode(s)].map((b) => bytes[b] as string);
  // Whole words with and without their leading space (Ġ), merged left to right.
  for (const word of WORDS) {
    for (const form of [word, ` ${word}`]) {
      const chars = encodeBytes(form);
      let acc = chars[0] as string;
      for (const c of chars.slice(1)) {
        merge(acc, c);
        acc += c;
      }
    }
  }
  // Then seeded merges of short existing tokens until the vocabulary is full.
  const next = seededRandom(options.seed);
  const short = () => tokens[SPECIAL_TOKENS.length + Math.floor(next() * (tokens.length - SPECIAL_TOKENS.length))] as string;
  let misses = 0;
  while (vocab.size < options.vocabSize) {
    const a = short();
    const b = short();
    if (a.length + b.length > 12 || !merge(a, b)) {
      if (++misses > 1_000_000) throw new RangeError(`could not fill a vocabulary of ${options.vocabSize}`);
    }
  }
  const added = SPECIAL_TOKENS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS_TOKEN, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: BOS_TOKEN, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [BOS_TOKEN]: { id: BOS_TOKEN, ids: [0], tokens: [BOS_TOKEN] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  return { vocab, merges, json };
}
