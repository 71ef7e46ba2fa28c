import type { Quad } from './types.ts';

/**
 * Mean probability inside a box (PaddleOCR's "fast" box score): pixels of
 * the box's bounding rectangle whose centre lies in the quad, with half a
 * pixel of slack so thin boxes still cover the pixels they were made from.
 *
 * @example
 * boxScore(prob, 4, 4, [[1, 1], [2, 1], [2, 2], [1, 2]]); // mean of prob at (1..2, 1..2)
 */
export function boxScore(prob: Float32Array, width: number, height: number, quad: Quad): number {
  const xs = quad.map((p) => p[0]);
  const ys = quad.map((p) => p[1]);
  const x0 = clamp(Math.floor(Math.min(...xs)), 0, width - 1);
  const x1 = clamp(Math.ceil(Math.max(...xs)), 0, width - 1);
  const y0 = clamp(Math.floor(Math.min(...ys)), 0, height - 1);
  const y1 = clamp(Math.ceil(Math.max(...ys)), 0, height - 1);
  // Each edge as a half-plane a*x + b*y + c >= 0 (inside), normalised so the
  // value is a distance in pixels.
  const planes = quad.map((p, i) => {
    const q = quad[(i + 1) % 4]!;
    const a = -(q[1] - p[1]);
    const b = q[0] - p[0];
    const n = Math.hypot(a, b) || 1;
    return [a / n, b / n, -(a * p[0] + b * p[1]) / n] as const;
  });
  // The quad may wind either way; flip the planes so its centre is inside.
  const cx = xs.reduce((s, v) => s + v, 0) / 4;
  const cy = ys.reduce((s, v) => s + v, 0) / 4;
  const sign = planes.reduce((s, [a, b, c]) => s + a * cx + b * cy + c, 0) >= 0 ? 1 : -1;
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (planes.every(([a, b, c]) => sign * (a * x + b * y + c) >= -0.5)) {
        sum += prob[y * width + x]!;
        count++;
      }
    }
  }
  return count === 0 ? 0 : sum / count;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
