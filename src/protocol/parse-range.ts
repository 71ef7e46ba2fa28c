/**
 * One `Range` header against a representation of `size` bytes (RFC 9110 §14),
 * decided the same way by every server Tessera has: the Worker, the CLI's
 * `file:` fetch and the tests' range server (so the loader is tested against
 * what production does).
 *
 * Decisions, each with a code tests assert on (as Workbox's range requests do):
 * - No header (`no-range`), another unit (`unit-not-bytes`), or a syntactically
 *   invalid spec such as `bytes=abc` or `bytes=5-2` (`malformed-range`):
 *   `ignore`, and the server answers 200 with the whole file, as RFC 9110
 *   §14.2 allows ("a server MAY ignore the Range header field").
 * - More than one range: `multiple` (`single-range-only`), answered 416
 *   `range-not-supported`. We never build multipart/byteranges; ignoring it
 *   instead would send a whole (up to 2 GiB) file to a client that asked for
 *   a few bytes.
 * - A well-formed range that starts at or past the end, `bytes=-0`, or any
 *   range of an empty file: `unsatisfiable` (`range-not-satisfiable`), answered
 *   416 with `Content-Range: bytes *\/size`.
 */

export type RangeDecision =
  | { type: 'ignore'; code: 'no-range' | 'unit-not-bytes' | 'malformed-range' }
  | { type: 'multiple'; code: 'single-range-only' }
  | { type: 'unsatisfiable'; code: 'range-not-satisfiable' }
  /** Inclusive byte positions, already clamped to the file. */
  | { type: 'range'; start: number; end: number };

const SPEC_RE = /^(\d*)-(\d*)$/;
const MALFORMED = { type: 'ignore', code: 'malformed-range' } as const;

/**
 * @example
 * parseRange('bytes=-100', 1000); // { type: 'range', start: 900, end: 999 }
 * parseRange('bytes=1000-', 1000); // { type: 'unsatisfiable', code: 'range-not-satisfiable' }
 */
export function parseRange(header: string | null | undefined, size: number): RangeDecision {
  if (header == null || header.trim() === '') return { type: 'ignore', code: 'no-range' };
  const eq = header.indexOf('=');
  if (eq < 0) return MALFORMED;
  if (header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { type: 'ignore', code: 'unit-not-bytes' };
  const specs = header.slice(eq + 1).split(',').map((s) => s.trim());
  const parsed: Array<{ first: number | null; last: number | null }> = [];
  for (const spec of specs) {
    const m = SPEC_RE.exec(spec);
    if (m === null) return MALFORMED;
    const first = m[1] === '' ? null : Number(m[1]);
    const last = m[2] === '' ? null : Number(m[2]);
    if (first === null && last === null) return MALFORMED;
    if (first !== null && last !== null && last < first) return MALFORMED;
    if ((first !== null && !Number.isSafeInteger(first)) || (last !== null && !Number.isSafeInteger(last))) return MALFORMED;
    parsed.push({ first, last });
  }
  if (parsed.length !== 1) return { type: 'multiple', code: 'single-range-only' };
  const { first, last } = parsed[0]!;
  if (first === null) {
    // Suffix range `bytes=-N`: the last N bytes (all of them when N > size).
    if (last === 0 || size === 0) return { type: 'unsatisfiable', code: 'range-not-satisfiable' };
    return { type: 'range', start: Math.max(0, size - last!), end: size - 1 };
  }
  if (first >= size) return { type: 'unsatisfiable', code: 'range-not-satisfiable' };
  return { type: 'range', start: first, end: last === null ? size - 1 : Math.min(last, size - 1) };
}
