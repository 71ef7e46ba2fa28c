/**
 * A model's tokenizer and chat template, from Hugging Face's own code:
 * `@huggingface/tokenizers` reads `tokenizer.json` (BPE, WordPiece, Unigram,
 * byte-level, added tokens, post-processors) and `@huggingface/jinja` renders
 * `tokenizer_config.json`'s `chat_template`, as transformers.js does. This is
 * the only module that imports them (a backend concern, like ORT): the
 * generation loop sees plain ids and strings.
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { TesseraError } from '../errors.ts';
import type { ChatMessage } from '../protocol/generation.ts';

export interface TextTokenizer {
  /** Ids for `text`; `addSpecialTokens` (default true) runs the post-processor (e.g. a leading BOS). */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids`; special tokens (BOS, EOS, role markers) are left out unless `skipSpecialTokens` is false. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The prompt the model's chat template makes of `messages`, ending with the assistant's turn opened. */
  applyChatTemplate(messages: readonly ChatMessage[]): string;
  /** Id of a token string, e.g. `</s>`; undefined when the vocabulary has none. */
  tokenId(token: string): number | undefined;
  readonly hasChatTemplate: boolean;
}

/**
 * @example
 * const tok = createTextTokenizer({ tokenizerJson: JSON.parse(tj), tokenizerConfig: JSON.parse(tc) });
 * const ids = tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'hi' }]), { addSpecialTokens: false });
 */
export function createTextTokenizer(files: { tokenizerJson: unknown; tokenizerConfig: Record<string, unknown> }): TextTokenizer {
  const config = files.tokenizerConfig;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(files.tokenizerJson as object, config);
  } catch (cause) {
    throw new TesseraError('invalid-model', `tokenizer.json could not be read: ${(cause as Error).message}`, { cause, details: { file: 'tokenizer.json' } });
  }
  const source = chatTemplateOf(config.chat_template);
  let template: Template | undefined;
  if (source !== undefined) {
    try {
      template = new Template(source);
    } catch (cause) {
      throw new TesseraError('invalid-model', `tokenizer_config.json's chat_template does not parse: ${(cause as Error).message}`, { cause, details: { file: 'tokenizer_config.json' } });
    }
  }
  const tokenText = (value: unknown): string | undefined =>
    typeof value === 'string' ? value : typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string' ? (value as { content: string }).content : undefined;

  return {
    hasChatTemplate: template !== undefined,
    encode(text, options = {}) {
      return tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    },
    decode(ids, options = {}) {
      // tokenizers.js refuses an empty list; its text is ''.
      if (ids.length === 0) return '';
      return tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true });
    },
    applyChatTemplate(messages) {
      if (!template) {
        throw new TesseraError('invalid-argument', 'this model has no chat template (tokenizer_config.json has no chat_template): send a prompt instead of messages');
      }
      try {
        return template.render({
          messages,
          add_generation_prompt: true,
          bos_token: tokenText(config.bos_token) ?? '',
          eos_token: tokenText(config.eos_token) ?? '',
          unk_token: tokenText(config.unk_token) ?? '',
          pad_token: tokenText(config.pad_token) ?? '',
        });
      } catch (cause) {
        // A template's raise_exception (e.g. roles out of order) is the caller's input at fault.
        throw new TesseraError('invalid-argument', `the chat template refused these messages: ${(cause as Error).message}`, { cause });
      }
    },
    tokenId(token) {
      return tokenizer.token_to_id(token);
    },
  };
}

/** `chat_template` is a string, or a list of named templates of which `default` is the one for chat. */
function chatTemplateOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => (t as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    return typeof named?.template === 'string' ? named.template : undefined;
  }
  return undefined;
}
