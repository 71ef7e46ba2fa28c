import { beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { recognize } from '../../src/engine/ocr/recognize.ts';
import { decodeImage } from '../../src/engine/ocr/decode-image.ts';
import type { OcrRunners, OcrTimings, RgbaImage } from '../../src/engine/ocr/types.ts';
import { isTesseraError } from '../../src/errors.ts';
import { renderText } from '../helpers/render-text.ts';
import { levenshtein, OCR_CASES } from './ocr-cases.ts';
import { nodeOcrRunners } from './ocr-node-runners.ts';

let runners: OcrRunners;
let characters: string[];

beforeAll(async () => {
  ({ runners, characters } = await nodeOcrRunners());
});

describe('PP-OCRv4 pipeline on onnxruntime-node (CPU)', () => {
  it('reads rendered text back with at least 95% character accuracy', async () => {
    let errors = 0;
    let total = 0;
    const totals: OcrTimings = { detMs: 0, clsMs: 0, recMs: 0 };
    const report: string[] = [];
    for (const c of OCR_CASES) {
      const image = await renderText(c);
      const result = await recognize(image, runners, characters);
      const expected = c.lines.join('\n');
      const distance = levenshtein(expected, result.text);
      errors += distance;
      total += [...expected].length;
      totals.detMs += result.timings.detMs;
      totals.clsMs += result.timings.clsMs;
      totals.recMs += result.timings.recMs;
      report.push(`${distance === 0 ? 'ok ' : `-${distance} `} ${c.family} ${c.size}px ${c.angle ?? 0}deg: ${JSON.stringify(result.text)}`);
      // One line per rendered line, each with a box inside the image and a real score.
      expect(result.lines).toHaveLength(c.lines.length);
      for (const line of result.lines) {
        expect(line.score).toBeGreaterThan(0.5);
        for (const [x, y] of line.box) {
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(image.width);
          expect(y).toBeGreaterThanOrEqual(0);
          expect(y).toBeLessThan(image.height);
        }
      }
    }
    const accuracy = 1 - errors / total;
    console.log(`${report.join('\n')}\ncharacter accuracy ${(accuracy * 100).toFixed(2)}% (${errors} edits / ${total} chars); ` +
      `det ${totals.detMs.toFixed(0)} ms, cls ${totals.clsMs.toFixed(0)} ms, rec ${totals.recMs.toFixed(0)} ms over ${OCR_CASES.length} images`);
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('turns an upside-down line only with the direction classifier', async () => {
    const image = await renderText({ lines: ['Upside down text here'], family: 'DejaVu Serif', size: 30, angle: 180 });
    const withCls = await recognize(image, runners, characters);
    const withoutCls = await recognize(image, runners, characters, { classify: false, dropScore: 0 });
    expect(levenshtein('Upside down text here', withCls.text)).toBeLessThanOrEqual(1);
    expect(levenshtein('Upside down text here', withoutCls.text)).toBeGreaterThan(5);
  });

  it('gives a tilted box for a tilted line, and the lines of a paragraph top to bottom', async () => {
    const tilted = await recognize(await renderText({ lines: ['Rotated line of text'], family: 'Liberation Sans', size: 30, angle: 12 }), runners, characters);
    const [p0, p1] = tilted.lines[0]!.box;
    const angle = (Math.atan2(p1[1] - p0[1], p1[0] - p0[0]) * 180) / Math.PI;
    expect(angle).toBeGreaterThan(9);
    expect(angle).toBeLessThan(15);
    const paragraph = await recognize(await renderText({ lines: ['first line', 'second line', 'third line'], family: 'DejaVu Sans', size: 28 }), runners, characters);
    const tops = paragraph.lines.map((l) => l.box[0][1]);
    expect(tops).toEqual([...tops].sort((a, b) => a - b));
    expect(paragraph.text.split('\n')).toHaveLength(3);
  });

  it('reads PNG and JPEG bytes decoded in Node, flattening transparency onto white', async () => {
    const image = await renderText({ lines: ['Decoded from bytes'], family: 'Liberation Sans', size: 32 });
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data);
    // Make the background transparent black: only flattening onto white keeps it readable.
    for (let i = 0; i < png.data.length; i += 4) {
      if (png.data[i]! > 200) png.data.set([0, 0, 0, 0], i);
    }
    const fromPng = await recognize(await decodeImage(PNG.sync.write(png)), runners, characters);
    expect(fromPng.text).toBe('Decoded from bytes');
    const jpg = jpeg.encode({ width: image.width, height: image.height, data: Buffer.from(image.data) }, 85).data;
    const fromJpeg = await recognize(await decodeImage(jpg), runners, characters);
    expect(fromJpeg.text).toBe('Decoded from bytes');
  });

  it('finds nothing in a blank image', async () => {
    const blank: RgbaImage = { width: 200, height: 100, data: new Uint8ClampedArray(200 * 100 * 4).fill(255) };
    const result = await recognize(blank, runners, characters);
    expect(result).toMatchObject({ text: '', lines: [] });
  });

  it('rejects bad input with precise codes', async () => {
    const bad = { width: 10, height: 10, data: new Uint8ClampedArray(10) };
    await expect(recognize(bad, runners, characters)).rejects.toSatisfy((e) => isTesseraError(e, 'invalid-argument'));
    await expect(decodeImage(new TextEncoder().encode('GIF89a...'))).rejects.toSatisfy((e) => isTesseraError(e, 'invalid-argument'));
    const truncated = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
    await expect(decodeImage(truncated)).rejects.toSatisfy((e) => isTesseraError(e, 'invalid-argument'));
    const controller = new AbortController();
    controller.abort();
    const image = await renderText({ lines: ['x'], family: 'DejaVu Sans', size: 20 });
    await expect(recognize(image, runners, characters, { signal: controller.signal })).rejects.toSatisfy((e) => isTesseraError(e, 'aborted'));
    // A dictionary that does not match the recogniser's classes.
    await expect(recognize(await renderText({ lines: ['abc'], family: 'DejaVu Sans', size: 30 }), runners, ['', 'a', ' '])).rejects.toSatisfy((e) =>
      isTesseraError(e, 'invalid-model'),
    );
  });
});
