/**
 * What a session does with a coordinator's `generate` frame, whoever runs the
 * decoder: `tessera serve` in Node (src/cli/commands/serve-generation.ts) and
 * a browser tab (src/embed/serve-generation.ts) share it, so both refuse the
 * same prompts and stream the same way.
 *
 * - The prompt is counted with the model's own tokenizer first: one that
 *   does not fit the context is refused (`invalid-argument`, a 400 at the
 *   Worker) before any step runs.
 * - Chunks with no text yet (a held-back character or a possible stop
 *   string) are not sent: the first chunk on the wire is the first visible text.
 * - The signal goes to the generator, which stops within one step.
 */
import type { CountInput, GenerateCallOptions, GenerationStream } from '../engine/generate/text-generator.ts';
import { TesseraError } from '../errors.ts';
import type { ModelOffer } from '../protocol/coordinator-messages.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';

/** A generator as a session needs it: an engine's TextGenerator, or a tab share's SharedGenerator. */
export interface RunnableGenerator {
  generate(request: GenerateRequest, options?: GenerateCallOptions): GenerationStream;
  countTokens(input: CountInput): Promise<number>;
}

/** Runs one generation for the coordinator: chunks through `onChunk`, then the result. */
export type GenerationRun = (request: GenerateRequest, onChunk: (chunk: GenerateChunk) => void, signal: AbortSignal) => Promise<GenerateResult>;

/**
 * @example
 * const run = generationRunner('tiny-llama', generator, generator.contextLength);
 * connectSession({ ..., runGenerate: (_model, request, onChunk, signal) => run(request, onChunk, signal) });
 */
export function generationRunner(name: string, generator: RunnableGenerator, contextLength: number): GenerationRun {
  return async (request, onChunk, signal) => {
    const promptTokens = await generator.countTokens('prompt' in request ? request.prompt : request.messages);
    if (promptTokens >= contextLength) {
      throw new TesseraError('invalid-argument', `the prompt has ${promptTokens} tokens; model "${name}" has a context of ${contextLength} (prompt plus output)`, {
        details: { promptTokens, contextLength },
      });
    }
    const stream = generator.generate(request, { signal, onToken: (chunk) => (chunk.text === '' ? undefined : onChunk(chunk)) });
    return stream.result;
  };
}

/**
 * The offer a session makes for a decoder: `text-generation`, its context,
 * and (when known) the tokenizer's longest token, so the Worker refuses
 * prompts that provably cannot fit without asking a session.
 *
 * @example
 * const offer = generationOffer({ name: 'tiny-llama', revision, contextLength: 256, maxTokenBytes: 12 });
 */
export function generationOffer(model: { name: string; revision: string; contextLength: number; maxTokenBytes?: number | undefined }): ModelOffer {
  return {
    name: model.name,
    revision: model.revision,
    maxBatch: 1,
    task: 'text-generation',
    contextLength: model.contextLength,
    ...(model.maxTokenBytes === undefined ? {} : { maxTokenBytes: model.maxTokenBytes }),
  };
}
