import type { Point, Quad } from './types.ts';

/**
 * Grows a text box across the line (above and below it; left and right of a
 * vertical line) by `fraction` of its thickness on each side. The PP-OCRv4
 * recogniser reads the gaps between words better with some margin around
 * the glyphs than on the tight strips the detector gives.
 *
 * @example
 * padQuad([[0, 0], [100, 0], [100, 20], [0, 20]], 0.1);
 * // [[0,-2],[100,-2],[100,22],[0,22]]
 */
export function padQuad(quad: Quad, fraction: number): Quad {
  const [a, b, c, d] = quad;
  const width = Math.hypot(b[0] - a[0], b[1] - a[1]);
  const height = Math.hypot(d[0] - a[0], d[1] - a[1]);
  const away = (p: Point, from: Point, amount: number, length: number): Point =>
    length === 0 ? p : [p[0] + ((p[0] - from[0]) / length) * amount, p[1] + ((p[1] - from[1]) / length) * amount];
  if (height <= width) {
    const amount = fraction * height;
    return [away(a, d, amount, height), away(b, c, amount, Math.hypot(c[0] - b[0], c[1] - b[1])), away(c, b, amount, Math.hypot(c[0] - b[0], c[1] - b[1])), away(d, a, amount, height)];
  }
  const amount = fraction * width;
  return [away(a, b, amount, width), away(b, a, amount, width), away(c, d, amount, Math.hypot(c[0] - d[0], c[1] - d[1])), away(d, c, amount, Math.hypot(c[0] - d[0], c[1] - d[1]))];
}
