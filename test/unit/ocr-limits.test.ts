/**
 * The OCR work caps with the real PP-OCRv4 models on onnxruntime-node: an
 * image with more lines (or more recogniser pixels) than allowed is refused
 * with `payload-too-large` after detection, before a single line is
 * recognised; within the caps it is read as before.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OCR_LIMITS, recognizerPixels } from '../../src/engine/ocr/ocr-limits.ts';
import { recognize } from '../../src/engine/ocr/recognize.ts';
import type { OcrRunners, RgbaImage } from '../../src/engine/ocr/types.ts';
import { isTesseraError } from '../../src/errors.ts';
import { renderText } from '../helpers/render-text.ts';
import { nodeOcrRunners } from './ocr-node-runners.ts';

let runners: OcrRunners;
let characters: string[];
let page: RgbaImage;
const calls = { det: 0, cls: 0, rec: 0 };
let counted: OcrRunners;

beforeAll(async () => {
  ({ runners, characters } = await nodeOcrRunners());
  counted = {
    det: (f) => (calls.det++, runners.det(f)),
    cls: (f) => (calls.cls++, runners.cls(f)),
    rec: (f) => (calls.rec++, runners.rec(f)),
  };
  page = await renderText({ lines: ['first line of text', 'second line of text', 'third line of text'], family: 'DejaVu Sans', size: 28 });
});

const reset = () => Object.assign(calls, { det: 0, cls: 0, rec: 0 });

describe('OCR work caps', () => {
  it('refuses more lines than allowed before recognising any, with a message saying how to split', async () => {
    reset();
    const err = await recognize(page, counted, characters, { limits: { ...DEFAULT_OCR_LIMITS, maxLines: 2 } }).catch((e: unknown) => e);
    expect(isTesseraError(err, 'payload-too-large')).toBe(true);
    expect((err as Error).message).toMatch(/3 text lines; OCR reads at most 2 per image: split/);
    expect(calls).toEqual({ det: 1, cls: 0, rec: 0 });
  });

  it('refuses more recogniser pixels than allowed', async () => {
    reset();
    const err = await recognize(page, counted, characters, { limits: { maxLines: 100, maxRecognizerPixels: 48 * 320 * 2 } }).catch((e: unknown) => e);
    expect(isTesseraError(err, 'payload-too-large')).toBe(true);
    expect((err as { details: { recognizerPixels: number } }).details.recognizerPixels).toBeGreaterThan(48 * 320 * 2);
    expect(calls.rec).toBe(0);
  });

  it('reads an image within the default caps as before', async () => {
    const result = await recognize(page, runners, characters);
    expect(result.lines).toHaveLength(3);
    expect(result.text).toContain('second line');
  });

  it('counts a line at least 320 px wide once scaled to 48 px high', () => {
    expect(recognizerPixels([{ width: 600, height: 30 }, { width: 10, height: 30 }])).toBe(48 * 960 + 48 * 320);
  });
});
