/** The streamed-text pieces of the loop: UTF-8-whole deltas from a real byte-level tokenizer, and stop strings. */
import { describe, expect, it } from 'vitest';
import { createTextTokenizer } from '../../backend/hf-tokenizer.ts';
import { byteLevelBpe } from '../../pack/generate/byte-level-bpe.ts';
import { IncrementalDecoder } from './incremental-decoder.ts';
import { StopMatcher } from './stop-matcher.ts';

describe('IncrementalDecoder', () => {
  const tokenizer = createTextTokenizer({ tokenizerJson: byteLevelBpe({ vocabSize: 600, seed: 1 }).json, tokenizerConfig: {} });

  it('streams multi-byte characters whole, never a U+FFFD half, and adds up to the whole decode', () => {
    const text = 'Héllo wörld 😀 — ok 日本';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    // The emoji alone is four byte tokens: the test means something only if characters really split.
    expect(ids.length).toBeGreaterThan([...text].length / 2);
    const decoder = new IncrementalDecoder((t) => tokenizer.decode(t));
    const deltas = ids.map((id) => decoder.push(id));
    deltas.push(decoder.flush());
    expect(deltas.join('')).toBe(text);
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
    expect(deltas.filter((d) => d === '').length).toBeGreaterThan(0); // held back mid-character
  });

  it('flushes an incomplete character at the end as the whole decode does', () => {
    const ids = tokenizer.encode('a😀', { addSpecialTokens: false }).slice(0, -1);
    const decoder = new IncrementalDecoder((t) => tokenizer.decode(t));
    const out = ids.map((id) => decoder.push(id)).join('') + decoder.flush();
    expect(out).toBe(tokenizer.decode(ids));
  });
});

describe('StopMatcher', () => {
  it('holds back a possible stop string and cuts at the first one', () => {
    const m = new StopMatcher(['\nUser:', 'END']);
    expect(m.push('Hi\nUs')).toEqual({ text: 'Hi', stopped: false });
    expect(m.push('ed')).toEqual({ text: '\nUsed', stopped: false });
    expect(m.push(' it EN')).toEqual({ text: ' it ', stopped: false });
    expect(m.push('D more')).toEqual({ text: '', stopped: true });
  });

  it('releases held text at the end when no stop string came', () => {
    const m = new StopMatcher(['stop']);
    expect(m.push('a st')).toEqual({ text: 'a ', stopped: false });
    expect(m.flush()).toBe('st');
    expect(new StopMatcher([]).push('anything')).toEqual({ text: 'anything', stopped: false });
  });
});
