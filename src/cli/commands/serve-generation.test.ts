import { describe, expect, it } from 'vitest';
import type { GenerateChunk } from '../../protocol/generation.ts';
import { SIMULATED_CONTEXT_LENGTH, simulatedGenerator, simulatedPrompt } from './serve-generation.ts';

describe('simulated generator', () => {
  it('repeats the input one code point per token, counts tokens, and never streams a stop string', async () => {
    const run = simulatedGenerator(1);
    const chunks: GenerateChunk[] = [];
    const result = await run('sim', { prompt: 'ab.cd', maxNewTokens: 20, stop: ['.c'] }, (c) => chunks.push(c), new AbortController().signal);
    expect(result).toMatchObject({ text: 'ab', finishReason: 'stop', promptTokens: 5, completionTokens: 4 });
    expect(chunks.map((c) => c.text).join('')).toBe('ab');
    const long = await run('sim', { messages: [{ role: 'user', content: 'xy' }], maxNewTokens: 5 }, () => undefined, new AbortController().signal);
    expect(long).toMatchObject({ text: 'xyxyx', finishReason: 'length', promptTokens: [...simulatedPrompt({ messages: [{ role: 'user', content: 'xy' }] })].length, completionTokens: 5 });
    expect(long.timeToFirstTokenMs).toBeGreaterThan(0);
  });

  it('stops within one token of an abort, and refuses a prompt past the context', async () => {
    const run = simulatedGenerator(10);
    const controller = new AbortController();
    let chunks = 0;
    const pending = run('sim', { prompt: 'abc', maxNewTokens: 1000 }, () => {
      chunks += 1;
      if (chunks === 2) controller.abort();
    }, controller.signal);
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
    expect(chunks).toBe(2);
    await expect(run('sim', { prompt: 'x'.repeat(SIMULATED_CONTEXT_LENGTH) }, () => undefined, new AbortController().signal)).rejects.toMatchObject({ code: 'invalid-argument' });
  });
});
