import { describe, expect, it } from 'vitest';
import { deferredStream } from './deferred-stream.ts';
import type { GenerateChunk, GenerateResult } from '../protocol/generation.ts';
import type { GenerationStream } from '../engine/generate/text-generator.ts';

/** An in-test stream over fixed chunks; records whether the consumer left early. */
function fixedStream(chunks: GenerateChunk[], result: GenerateResult): GenerationStream & { returned: boolean } {
  const state = { returned: false };
  return {
    get returned() {
      return state.returned;
    },
    result: Promise.resolve(result),
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: async () => (i < chunks.length ? { done: false, value: chunks[i++]! } : { done: true, value: undefined }),
        return: async () => {
          state.returned = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
}

const chunks = [{ text: 'Hel', tokenIds: [1] }, { text: 'lo', tokenIds: [2] }, { text: '!', tokenIds: [3] }];
const done: GenerateResult = { text: 'Hello!', finishReason: 'stop', promptTokens: 4, completionTokens: 3 };

describe('deferredStream', () => {
  it('streams the chunks of a stream that starts later, and its result', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stream = deferredStream(async () => {
      await gate;
      return fixedStream(chunks, done);
    });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const c of stream) seen.push(c.text);
    })();
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([]);
    release();
    await reading;
    expect(seen).toEqual(['Hel', 'lo', '!']);
    expect(await stream.result).toEqual(done);
  });

  it('a failed start rejects both the iteration and the result', async () => {
    const stream = deferredStream(async () => {
      throw new Error('no such model');
    });
    await expect(stream.result).rejects.toThrow('no such model');
    await expect((async () => {
      for await (const _ of stream) void _;
    })()).rejects.toThrow('no such model');
  });

  it('break passes return() to the source; a second iteration is refused', async () => {
    const inner = fixedStream(chunks, done);
    const stream = deferredStream(async () => inner);
    for await (const c of stream) {
      expect(c.text).toBe('Hel');
      break;
    }
    expect(inner.returned).toBe(true);
    expect(() => stream[Symbol.asyncIterator]()).toThrow(/iterated once/);
  });
});
