import { throwIfAborted } from '../../errors.ts';
import { firstOutput } from './first-output.ts';
import { resizeToHeight } from './resize-to-height.ts';
import { REC_NORMALIZE, toChwTensor } from './to-chw-tensor.ts';
import type { RgbaImage, RunModel } from './types.ts';
import { rotate180 } from './warp-perspective.ts';

export interface ClassifyOptions {
  /** Turn a strip only when the classifier is at least this sure. PaddleOCR: 0.9. */
  threshold?: number;
  batchSize?: number;
  signal?: AbortSignal;
}

const CLS_HEIGHT = 48;
const CLS_WIDTH = 192;

/**
 * Turns upside-down text strips the right way up with the direction
 * classifier (classes: 0 degrees, 180 degrees). Returns new strips and
 * which ones were turned.
 *
 * @example
 * const { strips } = await classifyDirection(crops, runners.cls);
 */
export async function classifyDirection(
  crops: RgbaImage[],
  cls: RunModel,
  options: ClassifyOptions = {},
): Promise<{ strips: RgbaImage[]; rotated: boolean[] }> {
  const threshold = options.threshold ?? 0.9;
  const batchSize = options.batchSize ?? 6;
  const strips = [...crops];
  const rotated = crops.map(() => false);
  for (let start = 0; start < crops.length; start += batchSize) {
    throwIfAborted(options.signal);
    const batch = crops.slice(start, start + batchSize).map((c) => resizeToHeight(c, CLS_HEIGHT, CLS_WIDTH));
    const x = toChwTensor(batch, { ...REC_NORMALIZE, padWidth: CLS_WIDTH });
    const probs = firstOutput(await cls({ x }), 'cls', 2);
    for (let i = 0; i < batch.length; i++) {
      const p180 = probs.data[i * 2 + 1]!;
      if (p180 > probs.data[i * 2]! && p180 > threshold) {
        strips[start + i] = rotate180(crops[start + i]!);
        rotated[start + i] = true;
      }
    }
  }
  return { strips, rotated };
}
