import { describe, expect, it } from 'vitest';
import { maxTokenBytes } from './max-token-bytes.ts';

describe('maxTokenBytes', () => {
  it('bounds the bytes of one token from a tokenizer.json vocabulary', () => {
    expect(maxTokenBytes({ model: { vocab: { a: 0, 'Ġhello': 1 } }, added_tokens: [{ content: '<s>' }] })).toBe(7);
    expect(maxTokenBytes({ model: { vocab: [['▁world', -1], ['x', -2]] }, added_tokens: [{ content: '<|endoftext|>' }] })).toBe(13);
    expect(maxTokenBytes({ model: {} })).toBeUndefined();
  });
});
