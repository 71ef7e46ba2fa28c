import type { Point, Quad } from './types.ts';

/**
 * Orders the four corners of a rectangle-like box as top-left, top-right,
 * bottom-right, bottom-left: the two leftmost points (by x) are the left side,
 * the upper of them is top-left; likewise on the right. This is PaddleOCR's
 * rule, so boxes of text tilted either way keep their reading direction.
 *
 * @example
 * orderQuad([[4, 2], [0, 0], [0, 2], [4, 0]]); // [[0,0],[4,0],[4,2],[0,2]]
 */
export function orderQuad(points: readonly Point[]): Quad {
  const byX = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const [l0, l1, r0, r1] = byX as [Point, Point, Point, Point];
  const [topLeft, bottomLeft] = l0[1] <= l1[1] ? [l0, l1] : [l1, l0];
  const [topRight, bottomRight] = r0[1] <= r1[1] ? [r0, r1] : [r1, r0];
  return [topLeft, topRight, bottomRight, bottomLeft];
}
