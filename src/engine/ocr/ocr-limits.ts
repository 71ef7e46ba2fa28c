/**
 * Caps on the work one OCR request may cause. Detection is bounded by its
 * input size (the longer side is scaled to at most 960 px), but recognition
 * costs one recogniser row per text line and grows with the lines' widths: a
 * dense 1920x1920 page blocked a session for longer than its lease. These
 * caps refuse such an image with `payload-too-large` (HTTP 413) after
 * detection, before any line is recognised, with a message saying how to
 * split it. Documented in README.md ("OCR limits").
 */
import { TesseraError } from '../../errors.ts';
import type { RgbaImage } from './types.ts';

export interface OcrLimits {
  /** Text lines (detected boxes) per image. */
  maxLines: number;
  /** Pixels fed to the recogniser per image: each line scaled to 48 px high, at least 320 wide. */
  maxRecognizerPixels: number;
}

/** 256 lines is three dense A4 pages; 8 MP is ~520 full-width (48x320) lines' worth of recogniser input. */
export const DEFAULT_OCR_LIMITS: Readonly<OcrLimits> = Object.freeze({ maxLines: 256, maxRecognizerPixels: 8_000_000 });

const REC_HEIGHT = 48;
const REC_MIN_WIDTH = 320;

/**
 * The recogniser input one set of strips costs (before batch padding).
 *
 * @example
 * recognizerPixels([{ width: 600, height: 30, data }]); // 48 * 960
 */
export function recognizerPixels(strips: readonly Pick<RgbaImage, 'width' | 'height'>[]): number {
  let total = 0;
  for (const s of strips) total += REC_HEIGHT * Math.max(REC_MIN_WIDTH, Math.ceil((REC_HEIGHT * s.width) / s.height));
  return total;
}

/**
 * Throws `payload-too-large` when an image has more text lines than the cap
 * (checked before the lines are even cut out).
 *
 * @example
 * checkOcrLines(boxes.length);
 */
export function checkOcrLines(lines: number, limits: OcrLimits = DEFAULT_OCR_LIMITS): void {
  if (lines > limits.maxLines) {
    throw new TesseraError('payload-too-large', `the image has ${lines} text lines; OCR reads at most ${limits.maxLines} per image: split it into parts (e.g. by page or column) and send each`, {
      details: { lines, limitLines: limits.maxLines },
    });
  }
}

/**
 * Throws `payload-too-large` when the cut-out lines would cost the
 * recogniser more pixels than the cap.
 *
 * @example
 * checkRecognizerPixels(strips);
 */
export function checkRecognizerPixels(strips: readonly Pick<RgbaImage, 'width' | 'height'>[], limits: OcrLimits = DEFAULT_OCR_LIMITS): void {
  const pixels = recognizerPixels(strips);
  const lines = strips.length;
  if (pixels > limits.maxRecognizerPixels) {
    throw new TesseraError('payload-too-large', `the image's ${lines} text lines need ${(pixels / 1e6).toFixed(1)} MP of recogniser input; at most ${limits.maxRecognizerPixels / 1e6} MP per image: split it into parts and send each`, {
      details: { recognizerPixels: pixels, limitPixels: limits.maxRecognizerPixels },
    });
  }
}
