/**
 * Text generation as plain data: what a caller asks a decoder for, the
 * deltas it streams back, and how it ended. One definition for every hop a
 * generation crosses (engine worker, tab sharing, coordinator socket, the
 * Worker's OpenAI routes), so each side validates the same shape.
 *
 * camelCase here; the OpenAI routes convert `max_tokens`, `top_p`, ... at the
 * HTTP boundary.
 */

/** A chat turn; the model's own chat template turns a list of these into a prompt. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What to generate from: a raw prompt (completions) or chat messages (chat/completions). */
export type GenerateInput = { prompt: string } | { messages: ChatMessage[] };

export interface SamplingOptions {
  /** Tokens to generate at most (after the prompt). */
  maxNewTokens?: number;
  /** 0 or absent: greedy decoding. */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling; 0 or absent: all. */
  topK?: number;
  /** Nucleus sampling: smallest set of tokens whose probability reaches p; 1 or absent: all. */
  topP?: number;
  /** Seed for reproducible sampling; absent: a random seed. */
  seed?: number;
  /** Generation ends before any of these strings; the stop string is not part of the text. */
  stop?: string[];
  /** > 1 penalises tokens already in the prompt or output (CTRL-style); 1 or absent: none. */
  repetitionPenalty?: number;
}

export type GenerateRequest = GenerateInput & SamplingOptions;

/** One streamed piece of output: the new text since the previous chunk, and the token ids behind it. */
export interface GenerateChunk {
  text: string;
  tokenIds: number[];
}

/** `stop`: EOS or a stop string; `length`: max new tokens or the context; `abort`: cancelled. */
export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerateResult {
  /** The whole generated text (stop string removed). */
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Time to first token and total generation time, ms, measured where the model runs. */
  timeToFirstTokenMs?: number;
  totalMs?: number;
}
