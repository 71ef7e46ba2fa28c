/**
 * A generation stream handed out before the model has loaded: the caller can
 * start `for await` (or await `result`) at once, and the chunks flow once
 * `start` resolves. `tessera.generate(name, ...)` returns one synchronously,
 * as web-llm's API does, although the first call also fetches the model.
 */
import type { GenerateChunk, GenerateResult } from '../protocol/generation.ts';
import type { GenerationStream } from '../engine/generate/text-generator.ts';

/**
 * @example
 * const stream = deferredStream(async () => (await loadGenerator()).generate({ prompt: 'Hi' }, { onToken }));
 * for await (const chunk of stream) out.textContent += chunk.text;
 */
export function deferredStream(start: () => Promise<GenerationStream>): GenerationStream {
  const started = start();
  const result: Promise<GenerateResult> = started.then((stream) => stream.result);
  // A caller may only iterate and never read `result` (or the reverse): the
  // failure reaches whichever they use, and is not also an unhandled rejection.
  result.catch(() => {});
  started.catch(() => {});
  let iterated = false;
  return {
    result,
    [Symbol.asyncIterator](): AsyncIterator<GenerateChunk> {
      // One generation, one pass: a second iterator would see nothing, so say so.
      if (iterated) throw new TypeError('a generation stream can be iterated once');
      iterated = true;
      let inner: AsyncIterator<GenerateChunk> | undefined;
      const source = async () => (inner ??= (await started)[Symbol.asyncIterator]());
      return {
        next: async () => (await source()).next(),
        return: async (value?: unknown) => {
          // Leaving the loop early (break) is passed on, so the source can end the generation.
          await inner?.return?.(value);
          return { done: true, value: undefined };
        },
      };
    },
  };
}
