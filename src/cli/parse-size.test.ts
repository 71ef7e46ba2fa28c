import { describe, expect, it } from 'vitest';
import { formatBytes, parseSize } from './parse-size.ts';

describe('parseSize', () => {
  it('parses binary and decimal units', () => {
    expect(parseSize('8MiB')).toBe(8 * 1024 * 1024);
    expect(parseSize('512KiB')).toBe(512 * 1024);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('1.5MB')).toBe(1_500_000);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('2m')).toBe(2 * 1024 * 1024);
  });
  it('rejects garbage with invalid-argument naming the flag', () => {
    expect(() => parseSize('8 furlongs', '--chunk-size')).toThrow(/--chunk-size "8 furlongs" is not a size/);
    expect(() => parseSize('0')).toThrow(/positive/);
    expect(() => parseSize('-1MiB')).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });
  it('formats bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(8 * 1024 * 1024)).toBe('8.0 MiB');
  });
});
