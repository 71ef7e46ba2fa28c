import { dbPostprocess, type DbOptions, type DetectedBox } from './db-postprocess.ts';
import { firstOutput } from './first-output.ts';
import { resizeBilinear } from './resize-bilinear.ts';
import { sortBoxes } from './sort-boxes.ts';
import { DET_NORMALIZE, toChwTensor } from './to-chw-tensor.ts';
import type { RgbaImage, RunModel } from './types.ts';

export interface DetectOptions extends DbOptions {
  /** The longer side is scaled down to at most this (never up). PaddleOCR: 960. */
  limitSideLen?: number;
}

/**
 * The detector's input size: the image scaled so its longer side is at most
 * `limit`, each side rounded to a multiple of 32 (the network downsamples by 32).
 *
 * @example
 * detInputSize(1920, 1080, 960); // { width: 960, height: 544 }
 */
export function detInputSize(width: number, height: number, limit: number): { width: number; height: number } {
  const ratio = Math.max(width, height) > limit ? limit / Math.max(width, height) : 1;
  const round32 = (v: number) => Math.max(Math.round((v * ratio) / 32) * 32, 32);
  return { width: round32(width), height: round32(height) };
}

/**
 * Runs the DB text detector and returns boxes in reading order.
 *
 * @example
 * const boxes = await detectText(image, runners.det);
 */
export async function detectText(image: RgbaImage, det: RunModel, options: DetectOptions = {}): Promise<DetectedBox[]> {
  const size = detInputSize(image.width, image.height, options.limitSideLen ?? 960);
  const x = toChwTensor([resizeBilinear(image, size.width, size.height)], DET_NORMALIZE);
  const prob = firstOutput(await det({ x }), 'det', 4);
  const [, , height = 0, width = 0] = prob.dims;
  return sortBoxes(dbPostprocess(prob.data, width, height, image, options));
}
