import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../seeded-random.ts';
import { argmax, pickToken } from './pick-token.ts';

const logits = Float32Array.from([1, 3, 2.9, -1, 0.5]);

describe('pickToken', () => {
  it('is argmax without temperature, ties to the lowest id', () => {
    expect(pickToken(logits, {}, [], Math.random)).toBe(1);
    expect(argmax(Float32Array.from([2, 5, 5, 1]))).toBe(1);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    // 3 / 2 = 1.5 < 2.9: token 2 wins once token 1 was seen.
    expect(pickToken(logits, { repetitionPenalty: 2 }, [1], Math.random)).toBe(2);
    // -1 * 2 = -2: a negative seen token only gets less likely.
    expect(pickToken(Float32Array.from([-1, -1.5]), { repetitionPenalty: 2 }, [0], Math.random)).toBe(1);
  });

  it('samples by probability, reproducibly for a seed', () => {
    const draw = (seed: number, n = 2000) => {
      const random = seededRandom(seed);
      const counts = new Array<number>(logits.length).fill(0);
      for (let i = 0; i < n; i++) counts[pickToken(logits, { temperature: 1 }, [], random)]!++;
      return counts;
    };
    const a = draw(1);
    expect(draw(1)).toEqual(a);
    // softmax([1,3,2.9,-1,.5]): p1 ~ 0.46, p2 ~ 0.42, p0 ~ 0.06.
    expect(a[1]! / 2000).toBeGreaterThan(0.4);
    expect(a[2]! / 2000).toBeGreaterThan(0.36);
    expect(a[0]! / 2000).toBeLessThan(0.1);
  });

  it('top-k and top-p cut the candidates', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 200; i++) expect([1, 2]).toContain(pickToken(logits, { temperature: 5, topK: 2 }, [], random));
    // p1 + p2 ~ 0.88 reaches 0.85: only tokens 1 and 2 remain.
    for (let i = 0; i < 200; i++) expect([1, 2]).toContain(pickToken(logits, { temperature: 1, topP: 0.85 }, [], random));
    // A tiny top-p keeps the single most likely token.
    expect(pickToken(logits, { temperature: 1, topP: 0.01 }, [], random)).toBe(1);
  });
});
