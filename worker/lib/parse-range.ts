/**
 * One `Range` header against a representation of `size` bytes (RFC 9110 §14).
 *
 * Decisions, each tested in test/worker:
 * - No header, another unit, or a syntactically invalid spec (`bytes=abc`,
 *   `bytes=5-2`): `ignore`, and the caller answers 200 with the whole file, as
 *   RFC 9110 §14.2 allows ("a server MAY ignore the Range header field").
 * - More than one range: `multiple`, answered 416 (`range-not-supported`). We
 *   never build multipart/byteranges; ignoring it instead would send a whole
 *   (up to 2 GiB) file to a client that asked for a few bytes.
 * - A well-formed range that starts at or past the end, `bytes=-0`, or any
 *   range of an empty file: `unsatisfiable` -> 416 with `Content-Range: bytes *\/size`.
 */

export type RangeDecision =
  | { type: 'ignore' }
  | { type: 'multiple' }
  | { type: 'unsatisfiable' }
  /** Inclusive byte positions, already clamped to the file. */
  | { type: 'range'; start: number; end: number };

const SPEC_RE = /^(\d*)-(\d*)$/;

/**
 * @example
 * parseRange('bytes=-100', 1000); // { type: 'range', start: 900, end: 999 }
 * parseRange('bytes=1000-', 1000); // { type: 'unsatisfiable' }
 */
export function parseRange(header: string | null | undefined, size: number): RangeDecision {
  if (header == null) return { type: 'ignore' };
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { type: 'ignore' };
  const specs = header.slice(eq + 1).split(',').map((s) => s.trim());
  const parsed: Array<{ first: number | null; last: number | null }> = [];
  for (const spec of specs) {
    const m = SPEC_RE.exec(spec);
    if (m === null) return { type: 'ignore' };
    const first = m[1] === '' ? null : Number(m[1]);
    const last = m[2] === '' ? null : Number(m[2]);
    if (first === null && last === null) return { type: 'ignore' };
    if (first !== null && last !== null && last < first) return { type: 'ignore' };
    if ((first !== null && !Number.isSafeInteger(first)) || (last !== null && !Number.isSafeInteger(last))) return { type: 'ignore' };
    parsed.push({ first, last });
  }
  if (parsed.length !== 1) return { type: 'multiple' };
  const { first, last } = parsed[0]!;
  if (first === null) {
    // Suffix range `bytes=-N`: the last N bytes (all of them when N > size).
    if (last === 0 || size === 0) return { type: 'unsatisfiable' };
    return { type: 'range', start: Math.max(0, size - last!), end: size - 1 };
  }
  if (first >= size) return { type: 'unsatisfiable' };
  return { type: 'range', start: first, end: last === null ? size - 1 : Math.min(last, size - 1) };
}
