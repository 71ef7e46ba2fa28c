import { describe, expect, it } from 'vitest';
import { equalDigests, sha256Digest, timingSafeEqualText } from './timing-safe-equal.ts';

describe('timing-safe-equal', () => {
  it('compares strings through their SHA-256 digests', async () => {
    expect(await timingSafeEqualText('secret', 'secret')).toBe(true);
    expect(await timingSafeEqualText('secret', 'secreT')).toBe(false);
    expect(await timingSafeEqualText('secret', 'secret-and-more')).toBe(false);
    expect(await timingSafeEqualText('', '')).toBe(true);
    expect(await timingSafeEqualText('', 'x')).toBe(false);
  });

  it('digests have one length whatever the input, and equalDigests counts a length difference as a mismatch', async () => {
    expect((await sha256Digest('a')).length).toBe(32);
    expect((await sha256Digest('a'.repeat(10_000))).length).toBe(32);
    const d = await sha256Digest('k');
    expect(equalDigests(d, await sha256Digest('k'))).toBe(true);
    expect(equalDigests(d, d.subarray(0, 31))).toBe(false);
    expect(equalDigests(d.subarray(0, 31), d)).toBe(false);
  });
});
