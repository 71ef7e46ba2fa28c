/**
 * A producer of chunks -> a GenerationStream: an async iterator over a
 * buffer the producer fills, the onToken callback, and the result promise.
 * The producer starts at once and gets a signal that fires when the caller
 * aborts or leaves the iteration early.
 */
import type { GenerateChunk, GenerateResult } from '../../protocol/generation.ts';
import type { GenerateCallOptions, GenerationStream } from './text-generator.ts';

export type Producer = (emit: (chunk: GenerateChunk) => void, signal: AbortSignal) => Promise<GenerateResult>;

/**
 * @example
 * return generationStream((emit, signal) => runGeneration(ctx, request, emit, signal), options);
 */
export function generationStream(produce: Producer, options: GenerateCallOptions = {}): GenerationStream {
  const controller = new AbortController();
  const outer = options.signal;
  const forward = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', forward, { once: true });

  const buffer: GenerateChunk[] = [];
  let done = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const emit = (chunk: GenerateChunk) => {
    if (done) return;
    buffer.push(chunk);
    try {
      options.onToken?.(chunk);
    } catch {
      // A throwing callback must not end the generation for the iterator's reader.
    }
    notify();
  };
  const result = (async () => {
    try {
      return await produce(emit, controller.signal);
    } catch (error) {
      failure = { error };
      throw error;
    } finally {
      done = true;
      outer?.removeEventListener('abort', forward);
      notify();
    }
  })();
  // A caller who only iterates still learns of a failure there; never an unhandled rejection.
  result.catch(() => undefined);

  return {
    result,
    [Symbol.asyncIterator](): AsyncIterator<GenerateChunk> {
      return {
        async next(): Promise<IteratorResult<GenerateChunk>> {
          for (;;) {
            const chunk = buffer.shift();
            if (chunk) return { value: chunk, done: false };
            if (done) {
              if (failure) throw failure.error;
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => (wake = resolve));
          }
        },
        async return(): Promise<IteratorResult<GenerateChunk>> {
          // Leaving the loop early: stop the work at its source.
          if (!done) controller.abort(new DOMException('the stream was closed by its reader', 'AbortError'));
          buffer.length = 0;
          return { value: undefined, done: true };
        },
      };
    },
  };
}
