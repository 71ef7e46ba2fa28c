import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.ts';
import { boxScore } from '../../src/engine/ocr/box-score.ts';
import { parseCharList } from '../../src/engine/ocr/char-list.ts';
import { connectedComponents } from '../../src/engine/ocr/connected-components.ts';
import { convexHull } from '../../src/engine/ocr/convex-hull.ts';
import { ctcDecode } from '../../src/engine/ocr/ctc-decode.ts';
import { dbPostprocess } from '../../src/engine/ocr/db-postprocess.ts';
import { detInputSize } from '../../src/engine/ocr/detect-text.ts';
import { minAreaRect } from '../../src/engine/ocr/min-area-rect.ts';
import { orderQuad } from '../../src/engine/ocr/order-quad.ts';
import { padQuad } from '../../src/engine/ocr/pad-quad.ts';
import { resizeBilinear } from '../../src/engine/ocr/resize-bilinear.ts';
import { sortBoxes } from '../../src/engine/ocr/sort-boxes.ts';
import { toChwTensor } from '../../src/engine/ocr/to-chw-tensor.ts';
import type { Point, Quad, RgbaImage } from '../../src/engine/ocr/types.ts';
import { unclip } from '../../src/engine/ocr/unclip.ts';
import { applyHomography, cropBox, homography, rotate180, rotate90, warpQuad } from '../../src/engine/ocr/warp-perspective.ts';

const close = (actual: readonly Point[], expected: readonly Point[], digits = 6) => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((p, i) => {
    expect(p[0]).toBeCloseTo(expected[i]![0], digits);
    expect(p[1]).toBeCloseTo(expected[i]![1], digits);
  });
};

/** A grey image whose pixel (x, y) has R = x, G = y, B = 10x + y. */
function gradient(width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([x, y, 10 * x + y, 255], (y * width + x) * 4);
  return { width, height, data };
}
const pixel = (im: RgbaImage, x: number, y: number) => [...im.data.slice((y * im.width + x) * 4, (y * im.width + x) * 4 + 4)];

describe('convexHull', () => {
  it('drops interior and collinear points', () => {
    const hull = convexHull([[0, 0], [1, 0], [2, 0], [1, 1], [2, 2], [0, 2], [0, 1]]);
    expect(hull).toEqual([[0, 0], [2, 0], [2, 2], [0, 2]]);
  });
  it('returns fewer than three distinct points as they are', () => {
    expect(convexHull([[1, 1], [1, 1], [3, 1]])).toEqual([[1, 1], [3, 1]]);
  });
});

describe('minAreaRect', () => {
  it('finds an axis-aligned rectangle exactly', () => {
    const r = minAreaRect([[0, 0], [4, 0], [4, 2], [0, 2], [2, 1]]);
    close(r.quad, [[0, 0], [4, 0], [4, 2], [0, 2]]);
    expect(r.width).toBeCloseTo(4);
    expect(r.height).toBeCloseTo(2);
  });
  it('finds a diamond as a 45-degree square, not its bounding box', () => {
    // Diamond with diagonals 4: side 2*sqrt(2), area 8 (the bounding box has 16).
    const r = minAreaRect([[2, 0], [4, 2], [2, 4], [0, 2]]);
    expect(r.width * r.height).toBeCloseTo(8);
    expect(r.width).toBeCloseTo(2 * Math.SQRT2);
  });
  it('finds a rotated 10x2 rectangle from its corners and inner points', () => {
    const a = (30 * Math.PI) / 180;
    const corner = (u: number, v: number): Point => [50 + u * Math.cos(a) - v * Math.sin(a), 20 + u * Math.sin(a) + v * Math.cos(a)];
    const points = [corner(0, 0), corner(10, 0), corner(10, 2), corner(0, 2), corner(5, 1), corner(3, 0.5)];
    const r = minAreaRect(points);
    expect(r.width).toBeCloseTo(10);
    expect(r.height).toBeCloseTo(2);
    // Ordered: top-left is the leftmost-upper corner, then clockwise on screen.
    close(r.quad, [corner(0, 0), corner(10, 0), corner(10, 2), corner(0, 2)]);
  });
});

describe('orderQuad', () => {
  it('orders shuffled corners top-left, top-right, bottom-right, bottom-left', () => {
    expect(orderQuad([[4, 2], [0, 0], [0, 2], [4, 0]])).toEqual([[0, 0], [4, 0], [4, 2], [0, 2]]);
  });
});

describe('unclip', () => {
  it('pushes each side of a 10x4 box out by area * ratio / perimeter', () => {
    const d = (40 * 1.5) / 28; // 2.142857...
    close(unclip([[0, 0], [10, 0], [10, 4], [0, 4]], 1.5), [[-d, -d], [10 + d, -d], [10 + d, 4 + d], [-d, 4 + d]]);
  });
  it('grows a rotated box along its own axes', () => {
    // A 2x2 square turned 45 degrees: d = 4 * 2 / 8 = 1, so it becomes 4x4 about the same centre.
    const s = Math.SQRT2;
    const out = unclip([[0, 0], [s, -s], [2 * s, 0], [s, s]] as Quad, 2);
    const r = minAreaRect(out);
    expect(r.width).toBeCloseTo(4);
    expect(r.height).toBeCloseTo(4);
  });
});

describe('padQuad', () => {
  it('pads a horizontal line above and below by a fraction of its height', () => {
    close(padQuad([[0, 0], [100, 0], [100, 20], [0, 20]], 0.1), [[0, -2], [100, -2], [100, 22], [0, 22]]);
  });
  it('pads a vertical line left and right', () => {
    close(padQuad([[0, 0], [20, 0], [20, 100], [0, 100]], 0.1), [[-2, 0], [22, 0], [22, 100], [-2, 100]]);
  });
});

describe('homography and warps', () => {
  it('maps the four corners exactly and the centre of a square to the centre', () => {
    const from: Quad = [[0, 0], [1, 0], [1, 1], [0, 1]];
    const to: Quad = [[10, 10], [30, 12], [28, 40], [8, 35]];
    const h = homography(from, to);
    from.forEach((p, i) => close([applyHomography(h, p)], [to[i]!]));
    close([applyHomography(homography(from, [[0, 0], [2, 0], [2, 2], [0, 2]]), [0.5, 0.5])], [[1, 1]]);
  });
  it('refuses a degenerate quad with invalid-argument', () => {
    expect(() => homography([[0, 0], [1, 0], [2, 0], [3, 0]], [[0, 0], [1, 0], [1, 1], [0, 1]])).toThrowError(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
  });
  it('cuts an axis-aligned box out pixel for pixel', () => {
    const image = gradient(20, 10);
    const strip = warpQuad(image, [[3, 2], [13, 2], [13, 6], [3, 6]], 10, 4);
    expect(strip.width).toBe(10);
    expect(pixel(strip, 0, 0)).toEqual(pixel(image, 3, 2));
    expect(pixel(strip, 9, 3)).toEqual(pixel(image, 12, 5));
  });
  it('turns a box listed from its right side into an upside-down strip', () => {
    const image = gradient(20, 10);
    // Corner 0 at the bottom-right: the strip's (0,0) is the image's (13,6).
    const strip = warpQuad(image, [[13, 6], [3, 6], [3, 2], [13, 2]], 10, 4);
    expect(pixel(strip, 0, 0)).toEqual(pixel(image, 13, 6));
    expect(pixel(strip, 2, 1)).toEqual(pixel(image, 11, 5));
  });
  it('rotates by quarter and half turns', () => {
    const image = gradient(3, 2);
    const r = rotate90(image);
    expect([r.width, r.height]).toEqual([2, 3]);
    // Counter-clockwise: the top-right pixel becomes the top-left.
    expect(pixel(r, 0, 0)).toEqual(pixel(image, 2, 0));
    expect(pixel(r, 1, 2)).toEqual(pixel(image, 0, 1));
    const h = rotate180(image);
    expect(pixel(h, 0, 0)).toEqual(pixel(image, 2, 1));
  });
  it('lays a tall crop on its side (height >= 1.5 x width)', () => {
    const strip = cropBox(gradient(20, 20), [[5, 2], [9, 2], [9, 14], [5, 14]]);
    expect([strip.width, strip.height]).toEqual([12, 4]);
  });
});

describe('resizeBilinear', () => {
  it('keeps an image at its own size unchanged and averages on 2x downscale', () => {
    const image = gradient(4, 4);
    expect([...resizeBilinear(image, 4, 4).data]).toEqual([...image.data]);
    // Half-pixel centres: the one output pixel samples the source at (0.5, 0.5), the mean of all four.
    const square: RgbaImage = { width: 2, height: 2, data: Uint8ClampedArray.from([0, 0, 0, 255, 10, 0, 0, 255, 20, 0, 0, 255, 30, 0, 0, 255]) };
    expect(pixel(resizeBilinear(square, 1, 1), 0, 0)).toEqual([15, 0, 0, 255]);
    // Upscaling 1x2 -> 1x4 interpolates between the two rows, clamping at the edges.
    const column: RgbaImage = { width: 1, height: 2, data: Uint8ClampedArray.from([0, 0, 0, 255, 100, 0, 0, 255]) };
    const tall = resizeBilinear(column, 1, 4);
    expect([0, 1, 2, 3].map((y) => pixel(tall, 0, y)[0])).toEqual([0, 25, 75, 100]);
  });
  it('rejects a zero target size', () => {
    expect(() => resizeBilinear(gradient(2, 2), 0, 3)).toThrowError(expect.objectContaining({ code: 'invalid-argument' }));
  });
});

describe('toChwTensor', () => {
  it('writes B, G, R planes, normalised, padded with zeros on the right', () => {
    const image: RgbaImage = { width: 1, height: 1, data: Uint8ClampedArray.from([255, 0, 51, 255]) };
    const t = toChwTensor([image], { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], padWidth: 2 });
    expect(t.dims).toEqual([1, 3, 1, 2]);
    const d = [...(t.data as Float32Array)].map((v) => Math.round(v * 1000) / 1000);
    expect(d).toEqual([-0.6, 0, -1, 0, 1, 0]);
  });
});

describe('connectedComponents and boxScore', () => {
  it('joins diagonal neighbours and separates the rest, keeping row extremes', () => {
    // 1 1 0 0 0
    // 0 1 0 0 1
    // 0 0 1 0 1
    const bitmap = Uint8Array.from([1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1]);
    const parts = connectedComponents(bitmap, 5, 3);
    expect(parts.map((p) => p.area)).toEqual([4, 2]);
    expect(parts[0]!.points).toEqual([[0, 0], [1, 0], [1, 1], [2, 2]]);
    expect(parts[1]!.points).toEqual([[4, 1], [4, 2]]);
  });
  it('scores the mean probability inside the box only', () => {
    const prob = new Float32Array(16).fill(0.1);
    [5, 6, 9, 10].forEach((i) => (prob[i] = 0.9));
    expect(boxScore(prob, 4, 4, [[1, 1], [2, 1], [2, 2], [1, 2]])).toBeCloseTo(0.9);
    expect(boxScore(prob, 4, 4, [[0, 0], [3, 0], [3, 3], [0, 3]])).toBeCloseTo((4 * 0.9 + 12 * 0.1) / 16);
  });
});

describe('dbPostprocess', () => {
  it('turns a bright 40x10 block into one unclipped box scaled to the original image', () => {
    const width = 64;
    const height = 32;
    const prob = new Float32Array(width * height).fill(0.05);
    for (let y = 10; y <= 19; y++) for (let x = 10; x <= 49; x++) prob[y * width + x] = 0.95;
    // Plus a faint blob that passes the pixel threshold but not the box score.
    for (let y = 25; y <= 29; y++) for (let x = 5; x <= 20; x++) prob[y * width + x] = 0.4;
    const boxes = dbPostprocess(prob, width, height, { width: 128, height: 64 }, { unclipRatio: 1.5 });
    expect(boxes).toHaveLength(1);
    // Region 39x9 pixels apart (corner centres): d = 39*9*1.5/96 = 5.48; then x2 scale and rounding.
    const d = (39 * 9 * 1.5) / 96;
    const r = (v: number) => Math.round(v * 2);
    expect(boxes[0]!.box).toEqual([[r(10 - d), r(10 - d)], [r(49 + d), r(10 - d)], [r(49 + d), r(19 + d)], [r(10 - d), r(19 + d)]]);
    expect(boxes[0]!.score).toBeCloseTo(0.95);
  });
  it('drops regions thinner than 3 pixels', () => {
    const prob = new Float32Array(32 * 8).fill(0);
    for (let x = 2; x < 30; x++) prob[3 * 32 + x] = 1;
    expect(dbPostprocess(prob, 32, 8, { width: 32, height: 8 })).toEqual([]);
  });
});

describe('sortBoxes and detInputSize', () => {
  const at = (x: number, y: number) => ({ box: [[x, y], [x + 10, y], [x + 10, y + 5], [x, y + 5]] as Quad });
  it('reads top to bottom, and left to right within 10 pixels of height', () => {
    const sorted = sortBoxes([at(50, 3), at(0, 40), at(0, 8)]);
    expect(sorted.map((b) => b.box[0])).toEqual([[0, 8], [50, 3], [0, 40]]);
  });
  it('scales the longer side down to the limit and rounds to multiples of 32', () => {
    expect(detInputSize(1920, 1080, 960)).toEqual({ width: 960, height: 544 });
    expect(detInputSize(100, 20, 960)).toEqual({ width: 96, height: 32 });
  });
});

describe('ctcDecode and parseCharList', () => {
  it('merges repeats, drops blanks, and averages the kept probabilities', () => {
    const chars = ['', 'a', 'b'];
    // steps: a(.9) a(.8) blank(.7) a(.6) b(.5)  -> "aab", score (.9 + .6 + .5) / 3
    const rows = [[0.05, 0.9, 0.05], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.3, 0.2, 0.5]];
    const decoded = ctcDecode({ type: 'float32', dims: [1, 5, 3], data: Float32Array.from(rows.flat()) }, chars);
    expect(decoded).toHaveLength(1);
    expect(decoded[0]!.text).toBe('aab');
    expect(decoded[0]!.score).toBeCloseTo((0.9 + 0.6 + 0.5) / 3);
  });
  it('gives an empty text with score 0 when every step is blank', () => {
    const decoded = ctcDecode({ type: 'float32', dims: [1, 2, 2], data: Float32Array.from([0.9, 0.1, 0.8, 0.2]) }, ['', 'x']);
    expect(decoded).toEqual([{ text: '', score: 0 }]);
  });
  it('adds the blank first and the space last, and checks the class count', () => {
    expect(parseCharList('a\nb\r\nc\n')).toEqual(['', 'a', 'b', 'c', ' ']);
    try {
      parseCharList('a\nb', 6625);
      expect.unreachable();
    } catch (error) {
      expect(isTesseraError(error, 'invalid-model')).toBe(true);
    }
  });
});
