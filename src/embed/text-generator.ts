/**
 * What the embed script and the app need from a loaded text generator
 * (engine.loadGenerator's handle), named once here so the surfaces share one
 * shape. A generation is an async iterable of chunks (web-llm's
 * `for await (const chunk of stream)`) with the final result as a promise.
 */
import type { ChatMessage, GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';
import type { Device } from '../protocol/device.ts';

export type { ChatMessage, GenerateChunk, GenerateRequest, GenerateResult };

export interface GenerateOptions {
  /** Stops generation within one step; the result then ends with `finishReason: 'abort'`. */
  signal?: AbortSignal;
  /** Called with each chunk as it is produced (besides the async iterator). */
  onToken?: (chunk: GenerateChunk) => void;
}

export interface GenerationStream extends AsyncIterable<GenerateChunk> {
  /** The whole text, why it ended and the token counts; rejects when generation failed. */
  readonly result: Promise<GenerateResult>;
}

export interface TextGenerator {
  readonly device: Device;
  readonly deviceReason: string;
  /** Prompt plus generated tokens the model can attend to. */
  readonly contextLength: number;
  generate(request: GenerateRequest, options?: GenerateOptions): GenerationStream;
  /** Prompt tokens of a prompt or a conversation, as generate() counts them. */
  countTokens(input: string | readonly ChatMessage[]): Promise<number>;
  dispose(): Promise<void>;
}
