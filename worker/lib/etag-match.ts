/**
 * Entity-tag comparison for `If-None-Match` (weak comparison) and `If-Range`
 * (strong comparison), RFC 9110 §8.8.3. Our ETags are always strong: `"<sha256>"`.
 */

/**
 * True when an `If-None-Match` list names `etag` (or is `*`): answer 304.
 *
 * @example
 * noneMatchHits('W/"abc", "def"', '"abc"'); // true (weak comparison)
 */
export function noneMatchHits(header: string | null | undefined, etag: string): boolean {
  if (header == null) return false;
  const bare = stripWeak(etag);
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || stripWeak(t) === bare;
  });
}

/**
 * True when an `If-Range` value lets the range through: only a strong ETag equal to
 * ours. A date or a weak tag means "send the whole thing" (we carry no Last-Modified).
 *
 * @example
 * ifRangeAllows('"abc"', '"abc"'); // true
 * ifRangeAllows('W/"abc"', '"abc"'); // false
 */
export function ifRangeAllows(header: string | null | undefined, etag: string): boolean {
  if (header == null) return true;
  return header.trim() === etag;
}

function stripWeak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
