import { describe, expect, it } from 'vitest';
import { parseRange } from './parse-range.ts';

const SIZE = 1000;

describe('parseRange', () => {
  it.each([
    ['a closed range', 'bytes=0-99', 0, 99],
    ['a middle range', 'bytes=100-199', 100, 199],
    ['one byte', 'bytes=5-5', 5, 5],
    ['an open-ended range', 'bytes=900-', 900, 999],
    ['a range past the end, clamped', 'bytes=900-5000', 900, 999],
    ['a suffix range', 'bytes=-100', 900, 999],
    ['a suffix longer than the file (all of it)', 'bytes=-5000', 0, 999],
    ['spaces and an upper-case unit', ' BYTES = 10-19 ', 10, 19],
  ])('%s: %s', (_label, header, start, end) => {
    expect(parseRange(header, SIZE)).toEqual({ type: 'range', start, end });
  });

  it('several ranges are single-range-only (answered 416, never multipart)', () => {
    expect(parseRange('bytes=0-1,5-6', SIZE)).toEqual({ type: 'multiple', code: 'single-range-only' });
    expect(parseRange('bytes=0-1, -5', SIZE)).toEqual({ type: 'multiple', code: 'single-range-only' });
  });

  it.each([
    ['starting at the end', 'bytes=1000-', SIZE],
    ['starting past the end', 'bytes=2000-3000', SIZE],
    ['an empty suffix', 'bytes=-0', SIZE],
    ['any range of an empty file', 'bytes=0-', 0],
    ['a suffix of an empty file', 'bytes=-10', 0],
  ])('unsatisfiable: %s', (_label, header, size) => {
    expect(parseRange(header, size)).toEqual({ type: 'unsatisfiable', code: 'range-not-satisfiable' });
  });

  it.each([['bytes=abc'], ['bytes=5-2'], ['bytes=-'], ['0-10'], ['bytes=1-2-3'], ['bytes=0-1,abc'], ['bytes=99999999999999999999-']])('malformed %s is ignored (200, RFC 9110 §14.2)', (header) => {
    expect(parseRange(header, SIZE)).toEqual({ type: 'ignore', code: 'malformed-range' });
  });

  it('no header, or another unit, is ignored with its own code', () => {
    expect(parseRange(undefined, SIZE)).toEqual({ type: 'ignore', code: 'no-range' });
    expect(parseRange(null, SIZE)).toEqual({ type: 'ignore', code: 'no-range' });
    expect(parseRange('', SIZE)).toEqual({ type: 'ignore', code: 'no-range' });
    expect(parseRange('items=0-1', SIZE)).toEqual({ type: 'ignore', code: 'unit-not-bytes' });
  });
});
