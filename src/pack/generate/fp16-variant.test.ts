import { describe, expect, it } from 'vitest';
import { floatToHalf } from './fp16-variant.ts';

describe('floatToHalf', () => {
  it('gives the IEEE binary16 bits, rounding to nearest even', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(0.1)).toBe(0x2e66);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(70000)).toBe(0x7c00); // overflow: infinity
    expect(floatToHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(floatToHalf(2 ** -26)).toBe(0); // underflow
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even (down)
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // a tie rounds to even (up)
    expect(floatToHalf(Number.NaN) & 0x7c00).toBe(0x7c00);
  });
});
