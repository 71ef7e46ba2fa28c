import { describe, expect, it } from 'vitest';
import { formatTokenStats, tokenMeter } from './token-meter.ts';

const chunk = (n: number) => ({ text: 'x'.repeat(n), tokenIds: Array.from({ length: n }, (_, i) => i) });

describe('tokenMeter', () => {
  it('measures the first token from the start and the rate from the first token on', () => {
    let t = 1000;
    const meter = tokenMeter(() => t);
    expect(meter.stats()).toEqual({ tokens: 0, timeToFirstTokenMs: undefined, tokensPerSecond: undefined });
    t = 1500; // 500 ms of loading and prefill
    expect(meter.add(chunk(1))).toEqual({ tokens: 1, timeToFirstTokenMs: 500, tokensPerSecond: undefined });
    t = 1600;
    meter.add(chunk(1));
    t = 1700;
    // 2 tokens after the first, in 200 ms: 10 tokens/s (the 500 ms before the first do not count).
    expect(meter.add(chunk(1))).toEqual({ tokens: 3, timeToFirstTokenMs: 500, tokensPerSecond: 10 });
  });

  it('a chunk without tokens (a flushed stop-string hold-back) changes nothing; a multi-token chunk counts each', () => {
    let t = 0;
    const meter = tokenMeter(() => t);
    t = 100;
    meter.add(chunk(2));
    t = 200;
    expect(meter.add({ text: '', tokenIds: [] })).toMatchObject({ tokens: 2, tokensPerSecond: undefined });
    t = 600;
    expect(meter.add(chunk(3))).toEqual({ tokens: 5, timeToFirstTokenMs: 100, tokensPerSecond: 6 });
  });

  it('formats what is known', () => {
    expect(formatTokenStats({ tokens: 1, timeToFirstTokenMs: 240.4, tokensPerSecond: undefined })).toBe('1 token · first token in 240 ms');
    expect(formatTokenStats({ tokens: 42, timeToFirstTokenMs: 240, tokensPerSecond: 18.26 })).toBe('42 tokens · 18.3 tokens/s · first token in 240 ms');
    expect(formatTokenStats({ tokens: 0, timeToFirstTokenMs: undefined, tokensPerSecond: undefined })).toBe('0 tokens');
  });
});
