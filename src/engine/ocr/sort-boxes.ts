import type { Quad } from './types.ts';

/**
 * Reading order: top to bottom, and left to right for boxes whose tops are
 * within `sameLine` pixels of each other (PaddleOCR's `sorted_boxes`).
 *
 * @example
 * sortBoxes([right, left]); // [left, right] when both sit on one line
 */
export function sortBoxes<T extends { box: Quad }>(items: readonly T[], sameLine = 10): T[] {
  const out = [...items].sort((a, b) => a.box[0][1] - b.box[0][1] || a.box[0][0] - b.box[0][0]);
  for (let i = 0; i < out.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const a = out[j]!;
      const b = out[j + 1]!;
      if (Math.abs(b.box[0][1] - a.box[0][1]) < sameLine && b.box[0][0] < a.box[0][0]) {
        out[j] = b;
        out[j + 1] = a;
      } else break;
    }
  }
  return out;
}
