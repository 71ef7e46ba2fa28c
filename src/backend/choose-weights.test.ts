import { describe, expect, it } from 'vitest';
import { chooseWeights } from './choose-weights.ts';

const browser = (jspi: boolean) => ({ runtime: 'browser-window' as const, wasm: { threads: false, simd: true, jspi } });

describe('chooseWeights', () => {
  it('streams where a browser realm has JSPI', () => {
    expect(chooseWeights('auto', browser(true))).toEqual({ weights: 'streamed', reason: 'streamed: JSPI build reads initializers from the chunk Blobs' });
    expect(chooseWeights('auto', { ...browser(true), runtime: 'web-worker' }).weights).toBe('streamed');
  });

  it('copies without JSPI, in Node and workerd, and when asked to; each says why', () => {
    expect(chooseWeights('auto', browser(false))).toMatchObject({ weights: 'copied', reason: expect.stringMatching(/^copied: no JSPI \(WebAssembly.Suspending missing\)/) });
    expect(chooseWeights('auto', { ...browser(true), runtime: 'node' })).toMatchObject({ weights: 'copied', reason: expect.stringMatching(/^copied: node runs/) });
    expect(chooseWeights('auto', { ...browser(true), runtime: 'workerd' }).weights).toBe('copied');
    expect(chooseWeights('copy', browser(true))).toEqual({ weights: 'copied', reason: 'copied: requested (weights: copy)' });
  });
});
