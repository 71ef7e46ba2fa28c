import { distance } from './min-area-rect.ts';
import type { Point, Quad } from './types.ts';

/**
 * Grows a text box back to the size of the text. The DB detector is trained
 * on boxes shrunk by `D = area * (1 - r^2) / perimeter`; PaddleOCR undoes it
 * by offsetting the polygon outwards by `area * ratio / perimeter` (pyclipper,
 * round joins) and taking the min-area rectangle of the result. For a rectangle
 * that rectangle is the input with each side pushed out by that distance,
 * which is what this computes directly.
 *
 * @example
 * unclip([[0, 0], [10, 0], [10, 4], [0, 4]], 1.5);
 * // distance = 40 * 1.5 / 28 ≈ 2.14: [[-2.14,-2.14],[12.14,-2.14],[12.14,6.14],[-2.14,6.14]]
 */
export function unclip(quad: Quad, ratio: number): Quad {
  const width = distance(quad[0], quad[1]);
  const height = distance(quad[0], quad[3]);
  const perimeter = 2 * (width + height);
  if (perimeter === 0) return quad;
  const d = (width * height * ratio) / perimeter;
  const u = unit(quad[0], quad[1]);
  const v = unit(quad[0], quad[3]);
  const move = (p: Point, su: number, sv: number): Point => [p[0] + d * (su * u[0] + sv * v[0]), p[1] + d * (su * u[1] + sv * v[1])];
  return [move(quad[0], -1, -1), move(quad[1], 1, -1), move(quad[2], 1, 1), move(quad[3], -1, 1)];
}

function unit(from: Point, to: Point): Point {
  const length = distance(from, to);
  return length === 0 ? [0, 0] : [(to[0] - from[0]) / length, (to[1] - from[1]) / length];
}
