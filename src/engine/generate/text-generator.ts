/**
 * A loaded decoder, as callers see it on every transport (in-process, the
 * engine's Web Worker): generate() streams chunks and settles a result,
 * countTokens() measures prompts with the model's own tokenizer. Plain data
 * for the info, so it is the same on both sides of a worker.
 */
import type { ChatMessage, GenerateChunk, GenerateRequest, GenerateResult } from '../../protocol/generation.ts';
import type { DecoderDtype, WorkerGeneratorInfo } from '../../protocol/worker-messages.ts';

export type { DecoderDtype };

/** What is known about a loaded decoder; plain data, one definition in the worker protocol. */
export type GeneratorInfo = WorkerGeneratorInfo;

/** Every GeneratorInfo field: a field added there and not here fails the typecheck. */
const INFO_FIELDS = {
  id: true,
  manifest: true,
  device: true,
  deviceReason: true,
  modelType: true,
  contextLength: true,
  dtype: true,
  graph: true,
  maxTokenBytes: true,
} satisfies Record<keyof GeneratorInfo, true>;

/**
 * The info of a generator (or anything that carries it), without its
 * methods: what crosses a worker boundary or is copied onto a wrapper.
 *
 * @example
 * post({ type: 'generator-loaded', id, generator: generatorInfoOf(generator) });
 */
export function generatorInfoOf(g: GeneratorInfo): GeneratorInfo {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(INFO_FIELDS) as Array<keyof GeneratorInfo>) if (g[key] !== undefined) out[key] = g[key];
  return out as unknown as GeneratorInfo;
}

export interface GenerateCallOptions {
  /** Stops generation within one decoder step; the result then has finishReason `abort`. */
  signal?: AbortSignal;
  /** Called with each chunk as it is produced (the same chunks the iterator yields). */
  onToken?: (chunk: GenerateChunk) => void;
}

/**
 * What generate() returns: iterate it for the chunks (one per generated
 * token, `text` '' while a character or a possible stop string is held
 * back, plus a last chunk with the held-back text), or await `result`.
 * Generation starts at once, whether or not anyone iterates; chunks are
 * buffered for a late iterator. Leaving a `for await` early (break, throw)
 * cancels the generation.
 */
export interface GenerationStream extends AsyncIterable<GenerateChunk> {
  readonly result: Promise<GenerateResult>;
}

/** A prompt, or chat messages (through the model's chat template). */
export type CountInput = string | readonly ChatMessage[];

export interface TextGenerator extends GeneratorInfo {
  /**
   * @example
   * const stream = generator.generate({ messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 32 }, { signal });
   * for await (const chunk of stream) out.textContent += chunk.text;
   * const { finishReason, completionTokens, timeToFirstTokenMs } = await stream.result;
   */
  generate(request: GenerateRequest, options?: GenerateCallOptions): GenerationStream;
  /** Prompt tokens, as generate() counts them (special tokens and chat template included). */
  countTokens(input: CountInput): Promise<number>;
  /** Releases the session. Calls after this fail with `session-closed`. */
  dispose(): Promise<void>;
}
