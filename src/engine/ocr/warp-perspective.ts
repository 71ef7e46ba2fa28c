import { TesseraError } from '../../errors.ts';
import type { Point, Quad, RgbaImage } from './types.ts';

/** Row-major 3x3 matrix mapping (x, y, 1) to homogeneous coordinates. */
export type Homography = [number, number, number, number, number, number, number, number, number];

/**
 * The perspective transform taking each point of `from` to the same corner
 * of `to`, found by solving the usual 8x8 linear system (h33 = 1).
 *
 * @example
 * const h = homography([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [2, 0], [2, 2], [0, 2]]);
 * applyHomography(h, [0.5, 0.5]); // [1, 1]
 */
export function homography(from: Quad, to: Quad): Homography {
  const rows: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i]!;
    const [u, v] = to[i]!;
    rows.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    rows.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  // Gaussian elimination with partial pivoting.
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(rows[r]![col]!) > Math.abs(rows[pivot]![col]!)) pivot = r;
    if (Math.abs(rows[pivot]![col]!) < 1e-12) {
      throw new TesseraError('invalid-argument', 'cannot map a degenerate quad (three corners on one line)', {
        details: { from, to },
      });
    }
    [rows[col], rows[pivot]] = [rows[pivot]!, rows[col]!];
    const p = rows[col]!;
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const row = rows[r]!;
      const f = row[col]! / p[col]!;
      if (f !== 0) for (let k = col; k < 9; k++) row[k]! -= f * p[k]!;
    }
  }
  const h = rows.map((row, i) => row[8]! / row[i]!);
  return [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!, h[6]!, h[7]!, 1];
}

export function applyHomography(h: Homography, [x, y]: Point): Point {
  const w = h[6] * x + h[7] * y + h[8];
  return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w];
}

/**
 * Cuts the quad out of the image into an upright `width` x `height` strip:
 * corner 0 of the quad lands at (0, 0), corner 1 at (width, 0) and so on.
 * Each output pixel is sampled bilinearly from the source, edges replicated
 * (OpenCV's warpPerspective with BORDER_REPLICATE, as PaddleOCR crops).
 *
 * @example
 * const line = warpQuad(image, box, 200, 32);
 */
export function warpQuad(image: RgbaImage, quad: Quad, width: number, height: number): RgbaImage {
  const target: Quad = [[0, 0], [width, 0], [width, height], [0, height]];
  const h = homography(target, quad);
  const out = new Uint8ClampedArray(width * height * 4);
  const src = image.data;
  const sw = image.width;
  const sh = image.height;
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [fx0, fy0] = applyHomography(h, [x, y]);
      const fx = Math.min(Math.max(fx0, 0), sw - 1);
      const fy = Math.min(Math.max(fy0, 0), sh - 1);
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const x1 = Math.min(x0 + 1, sw - 1);
      const y1 = Math.min(y0 + 1, sh - 1);
      const wx = fx - x0;
      const wy = fy - y0;
      const a = (y0 * sw + x0) * 4;
      const b = (y0 * sw + x1) * 4;
      const c = (y1 * sw + x0) * 4;
      const d = (y1 * sw + x1) * 4;
      for (let k = 0; k < 4; k++) {
        const top = src[a + k]! + (src[b + k]! - src[a + k]!) * wx;
        const bottom = src[c + k]! + (src[d + k]! - src[c + k]!) * wx;
        out[o++] = top + (bottom - top) * wy;
      }
    }
  }
  return { width, height, data: out };
}

/**
 * Rotates an image a quarter turn counter-clockwise (numpy's rot90), used
 * to lay tall crops of vertical text on their side.
 *
 * @example
 * rotate90(tall).width === tall.height; // true
 */
export function rotate90(image: RgbaImage): RgbaImage {
  const { width, height } = image;
  const out = new Uint8ClampedArray(width * height * 4);
  // Output is height wide, width tall; out(x', y') = in(width - 1 - y', x').
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < height; x++) {
      const s = (x * width + (width - 1 - y)) * 4;
      const d = (y * height + x) * 4;
      out[d] = image.data[s]!;
      out[d + 1] = image.data[s + 1]!;
      out[d + 2] = image.data[s + 2]!;
      out[d + 3] = image.data[s + 3]!;
    }
  }
  return { width: height, height: width, data: out };
}

/** Rotates an image half a turn. */
export function rotate180(image: RgbaImage): RgbaImage {
  const out = new Uint8ClampedArray(image.data.length);
  const pixels = image.width * image.height;
  for (let i = 0; i < pixels; i++) {
    const s = i * 4;
    const d = (pixels - 1 - i) * 4;
    out[d] = image.data[s]!;
    out[d + 1] = image.data[s + 1]!;
    out[d + 2] = image.data[s + 2]!;
    out[d + 3] = image.data[s + 3]!;
  }
  return { width: image.width, height: image.height, data: out };
}

/**
 * The upright strip of text inside a detected box: PaddleOCR's
 * `get_rotate_crop_image` (size from the longer of each pair of opposite
 * edges; crops at least 1.5 times taller than wide are turned on their side).
 *
 * @example
 * const strip = cropBox(image, line.box);
 */
export function cropBox(image: RgbaImage, quad: Quad): RgbaImage {
  const len = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const width = Math.max(1, Math.trunc(Math.max(len(quad[0], quad[1]), len(quad[2], quad[3]))));
  const height = Math.max(1, Math.trunc(Math.max(len(quad[0], quad[3]), len(quad[1], quad[2]))));
  const strip = warpQuad(image, quad, width, height);
  return height / width >= 1.5 ? rotate90(strip) : strip;
}
