import { convexHull } from './convex-hull.ts';
import { orderQuad } from './order-quad.ts';
import type { Point, Quad } from './types.ts';

export interface RotatedRect {
  /** Corners ordered top-left, top-right, bottom-right, bottom-left. */
  quad: Quad;
  /** Length of the edge from corner 0 to corner 1 and from 0 to 3. */
  width: number;
  height: number;
}

/**
 * The rectangle of least area around the points, by rotating calipers: the
 * best rectangle has one side on an edge of the convex hull, so trying each
 * hull edge finds it (what OpenCV's minAreaRect computes).
 *
 * @example
 * minAreaRect([[0, 0], [4, 0], [4, 2], [0, 2]]).quad; // [[0,0],[4,0],[4,2],[0,2]]
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  const hull = convexHull(points);
  if (hull.length === 0) return { quad: [[0, 0], [0, 0], [0, 0], [0, 0]], width: 0, height: 0 };
  let best: { area: number; corners: Point[] } | undefined;
  const edges = hull.length === 1 ? 1 : hull.length;
  for (let i = 0; i < edges; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    let ux = b[0] - a[0];
    let uy = b[1] - a[1];
    const length = Math.hypot(ux, uy);
    if (length === 0) { ux = 1; uy = 0; } else { ux /= length; uy /= length; }
    // Project every hull point on the edge direction u and its normal v.
    let minU = Infinity, maxU = -Infinity, minV = Infinity, maxV = -Infinity;
    for (const p of hull) {
      const pu = p[0] * ux + p[1] * uy;
      const pv = -p[0] * uy + p[1] * ux;
      if (pu < minU) minU = pu;
      if (pu > maxU) maxU = pu;
      if (pv < minV) minV = pv;
      if (pv > maxV) maxV = pv;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (best === undefined || area < best.area - 1e-9) {
      const corner = (pu: number, pv: number): Point => [pu * ux - pv * uy, pu * uy + pv * ux];
      best = { area, corners: [corner(minU, minV), corner(maxU, minV), corner(maxU, maxV), corner(minU, maxV)] };
    }
  }
  const quad = orderQuad(best!.corners);
  return { quad, width: distance(quad[0], quad[1]), height: distance(quad[0], quad[3]) };
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}
