/**
 * The generation loop: tokenize (prompt, or chat messages through the chat
 * template), prefill, then one token a step: pick (greedy or seeded
 * sampling), stop at EOS / a stop string / max new tokens / the context,
 * stream the text UTF-8-whole and never past a stop string. The signal is
 * looked at before every step, so an abort ends the loop within one step.
 *
 * Tessera runs its own loop over ORT sessions instead of transformers.js's
 * generate(): the weights must come through Tessera's loader and cache (and
 * its Blob weight path; transformers.js bundles its own ORT), the KV cache must
 * stay on the GPU between steps, cancellation must stop the work at the
 * source within a step, and the same loop must run on onnxruntime-node.
 */
import type { TextTokenizer } from '../../backend/hf-tokenizer.ts';
import { TesseraError } from '../../errors.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult, FinishReason } from '../../protocol/generation.ts';
import { seededRandom } from '../../seeded-random.ts';
import type { DecoderConfig } from './decoder-config.ts';
import { IncrementalDecoder } from './incremental-decoder.ts';
import type { KvDecoder } from './kv-decoder.ts';
import { pickToken } from './pick-token.ts';
import { StopMatcher } from './stop-matcher.ts';
import { yieldToEventLoop } from './yield-to-event-loop.ts';
import type { CountInput } from './text-generator.ts';

/** max_new_tokens when a request gives none. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

export interface GenerationContext {
  tokenizer: TextTokenizer;
  config: DecoderConfig;
  /** A fresh KV cache over the model's session. */
  newDecoder(): KvDecoder;
  /** Milliseconds; default performance.now. */
  now?: () => number;
}

/**
 * Prompt ids as generate() feeds them: a prompt with the tokenizer's special
 * tokens (e.g. BOS), messages through the chat template (which writes its own).
 *
 * @example
 * promptIds(tokenizer, [{ role: 'user', content: 'hi' }]); // [0, 3, 198, ...]
 */
export function promptIds(tokenizer: TextTokenizer, input: CountInput): number[] {
  if (typeof input === 'string') return tokenizer.encode(input);
  checkMessages(input);
  return tokenizer.encode(tokenizer.applyChatTemplate(input), { addSpecialTokens: false });
}

/**
 * @example
 * const result = await runGeneration(ctx, { prompt: 'Once upon a time', maxNewTokens: 16 }, (chunk) => out.push(chunk.text), signal);
 */
export async function runGeneration(
  ctx: GenerationContext,
  request: GenerateRequest,
  emit: (chunk: GenerateChunk) => void,
  signal?: AbortSignal,
): Promise<GenerateResult> {
  const now = ctx.now ?? (() => performance.now());
  const start = now();
  const options = checkRequest(request);
  const ids = promptIds(ctx.tokenizer, 'messages' in request ? request.messages : request.prompt);
  const contextLength = ctx.config.contextLength;
  if (ids.length === 0) throw new TesseraError('invalid-argument', 'the prompt is empty: it encodes to no tokens');
  if (ids.length >= contextLength) {
    throw new TesseraError('invalid-argument', `the prompt is ${ids.length} tokens; this model's context is ${contextLength} tokens, so a prompt must be at most ${contextLength - 1}: shorten it`, {
      details: { promptTokens: ids.length, contextLength },
    });
  }
  const eos = new Set(ctx.config.eosTokenIds);
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const text = new IncrementalDecoder((t) => ctx.tokenizer.decode(t));
  const stops = new StopMatcher(options.stop);
  const seen = [...ids];
  let output = '';
  let completionTokens = 0;
  let timeToFirstTokenMs: number | undefined;
  let finishReason: FinishReason | undefined;
  let stopString = false;
  const send = (piece: string, tokenIds: number[]) => {
    output += piece;
    emit({ text: piece, tokenIds });
  };

  const decoder = ctx.newDecoder();
  try {
    let logits: Float32Array | undefined = await step(decoder, ids, signal);
    while (logits) {
      const id = pickToken(logits, options, seen, random);
      completionTokens++;
      timeToFirstTokenMs ??= now() - start;
      if (eos.has(id)) {
        finishReason = 'stop';
        break;
      }
      seen.push(id);
      const piece = stops.push(text.push(id));
      send(piece.text, [id]);
      if (piece.stopped) {
        finishReason = 'stop';
        stopString = true;
        break;
      }
      if (completionTokens >= options.maxNewTokens || ids.length + completionTokens >= contextLength) {
        finishReason = 'length';
        break;
      }
      logits = await step(decoder, [id], signal);
    }
    finishReason ??= 'abort';
  } finally {
    decoder.dispose();
  }
  if (!stopString) {
    // What the detokeniser and the stop matcher still hold; a stop string in it still cuts it.
    const tail = stops.push(text.flush());
    const rest = tail.stopped ? tail.text : tail.text + stops.flush();
    if (tail.stopped) finishReason = 'stop';
    if (rest.length > 0) send(rest, []);
  }
  return {
    text: output,
    finishReason,
    promptTokens: ids.length,
    completionTokens,
    ...(timeToFirstTokenMs === undefined ? {} : { timeToFirstTokenMs }),
    totalMs: now() - start,
  };
}

/** One decoder run, or undefined when the signal says stop (checked before and after, so within one step). */
async function step(decoder: KvDecoder, ids: readonly number[], signal: AbortSignal | undefined): Promise<Float32Array | undefined> {
  if (signal?.aborted) return undefined;
  try {
    const logits = await decoder.step(ids, signal);
    // A cancel message that arrived during the run is read here.
    await yieldToEventLoop();
    return signal?.aborted ? undefined : logits;
  } catch (err) {
    if (signal?.aborted) return undefined;
    throw err;
  }
}

interface CheckedOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  stop: string[];
  seed?: number;
}

function checkRequest(request: GenerateRequest): CheckedOptions {
  const bad = (message: string): never => {
    throw new TesseraError('invalid-argument', message);
  };
  if (typeof request !== 'object' || request === null) bad('a generate request must be an object with a prompt or messages');
  const hasPrompt = 'prompt' in request;
  const hasMessages = 'messages' in request;
  if (hasPrompt === hasMessages) bad('a generate request needs exactly one of "prompt" (a string) or "messages" (chat turns)');
  if (hasPrompt && typeof request.prompt !== 'string') bad('"prompt" must be a string');
  const num = (name: keyof CheckedOptions, value: unknown, fallback: number, ok: (v: number) => boolean, what: string): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) bad(`"${name}" must be ${what}, got ${JSON.stringify(value)}`);
    return value as number;
  };
  const maxNewTokens = num('maxNewTokens', request.maxNewTokens, DEFAULT_MAX_NEW_TOKENS, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  const temperature = num('temperature', request.temperature, 0, (v) => v >= 0, 'a number >= 0');
  const topK = num('topK', request.topK, 0, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const topP = num('topP', request.topP, 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const repetitionPenalty = num('repetitionPenalty', request.repetitionPenalty, 1, (v) => v > 0, 'a number > 0');
  const stop = request.stop ?? [];
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string')) bad('"stop" must be a list of strings');
  const seed = request.seed === undefined ? undefined : num('seed', request.seed, 0, (v) => Number.isInteger(v), 'an integer');
  return { maxNewTokens, temperature, topK, topP, repetitionPenalty, stop: stop.filter((s) => s.length > 0), ...(seed === undefined ? {} : { seed }) };
}

function checkMessages(messages: readonly unknown[]): void {
  if (!Array.isArray(messages) || messages.length === 0) throw new TesseraError('invalid-argument', '"messages" must be a non-empty list of { role, content }');
  for (const [i, m] of messages.entries()) {
    const message = m as { role?: unknown; content?: unknown };
    if (typeof message !== 'object' || message === null || !['system', 'user', 'assistant'].includes(message.role as string)) {
      throw new TesseraError('invalid-argument', `messages[${i}].role must be "system", "user" or "assistant", got ${JSON.stringify(message?.role)}`, { details: { index: i } });
    }
    if (typeof message.content !== 'string') throw new TesseraError('invalid-argument', `messages[${i}].content must be a string`, { details: { index: i } });
  }
}
