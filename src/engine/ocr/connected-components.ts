/**
 * Connected regions of a binary map, each summarised by the outermost pixel
 * of every row it touches: those points have the same convex hull as the whole
 * region, which is all box extraction needs, at a fraction of the points.
 */
export interface Component {
  /** Pixel coordinates (integers, as OpenCV's contours use) of the row extremes. */
  points: [number, number][];
  /** Number of pixels in the region. */
  area: number;
}

/**
 * Labels 8-connected regions of `bitmap` (non-zero = on), scanning rows top
 * to bottom, so regions come out in order of their first pixel.
 *
 * @example
 * const parts = connectedComponents(Uint8Array.from([1, 0, 0, 1]), 2, 2);
 * // one region: (0,0) and (1,1) touch diagonally
 */
export function connectedComponents(bitmap: Uint8Array, width: number, height: number, maxComponents = Infinity): Component[] {
  const labels = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  const components: Component[] = [];
  const rowMin = new Int32Array(height);
  const rowMax = new Int32Array(height);
  let label = 0;
  for (let start = 0; start < bitmap.length && components.length < maxComponents; start++) {
    if (bitmap[start] === 0 || labels[start] !== 0) continue;
    label++;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    let area = 0;
    let minY = height;
    let maxY = -1;
    while (top > 0) {
      const index = stack[--top]!;
      const x = index % width;
      const y = (index - x) / width;
      area++;
      if (y < minY) { minY = y; rowMin[y] = x; rowMax[y] = x; }
      if (y > maxY) {
        for (let r = maxY + 1; r <= y; r++) { rowMin[r] = width; rowMax[r] = -1; }
        maxY = y;
      }
      if (x < rowMin[y]!) rowMin[y] = x;
      if (x > rowMax[y]!) rowMax[y] = x;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width || (dx === 0 && dy === 0)) continue;
          const n = ny * width + nx;
          if (bitmap[n] !== 0 && labels[n] === 0) {
            labels[n] = label;
            stack[top++] = n;
          }
        }
      }
    }
    const points: [number, number][] = [];
    for (let y = minY; y <= maxY; y++) {
      if (rowMax[y]! < 0) continue;
      points.push([rowMin[y]!, y]);
      if (rowMax[y] !== rowMin[y]) points.push([rowMax[y]!, y]);
    }
    components.push({ points, area });
  }
  return components;
}
