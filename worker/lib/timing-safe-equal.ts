/**
 * The Worker's one secret comparison: SHA-256 both sides, then compare the
 * digests in constant time. Digests have one length whatever the input, so
 * neither the content nor the length of a secret leaks through timing, and
 * there is no early exit for an attacker to measure.
 */

/**
 * @example
 * const digest = await sha256Digest(token);
 */
export async function sha256Digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/**
 * Constant time over two digests (any length difference counts as a mismatch
 * without shortening the loop).
 *
 * @example
 * equalDigests(await sha256Digest(given), expectedDigest);
 */
export function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Constant-time string equality over SHA-256 digests.
 *
 * @example
 * await timingSafeEqualText('a', 'a'); // true
 */
export async function timingSafeEqualText(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([sha256Digest(a), sha256Digest(b)]);
  return equalDigests(da, db);
}
