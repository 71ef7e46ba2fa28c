import { TesseraError, throwIfAborted } from '../../errors.ts';
import { ctcDecode, type DecodedText } from './ctc-decode.ts';
import { firstOutput } from './first-output.ts';
import { resizeToHeight } from './resize-to-height.ts';
import { REC_NORMALIZE, toChwTensor } from './to-chw-tensor.ts';
import type { RgbaImage, RunModel } from './types.ts';

export interface RecognizeStripsOptions {
  batchSize?: number;
  signal?: AbortSignal;
}

const REC_HEIGHT = 48;
/** PaddleOCR's default input is 48x320; wider batches grow to fit the widest strip. */
const REC_MIN_RATIO = 320 / 48;

/**
 * Reads upright text strips with the recogniser. Strips are batched by
 * aspect ratio (similar widths pad less), each batch as wide as its widest
 * strip; results come back in the input order.
 *
 * @example
 * const texts = await recognizeStrips(strips, runners.rec, characters);
 */
export async function recognizeStrips(
  strips: RgbaImage[],
  rec: RunModel,
  characters: readonly string[],
  options: RecognizeStripsOptions = {},
): Promise<DecodedText[]> {
  const batchSize = options.batchSize ?? 6;
  const ratios = strips.map((s) => s.width / s.height);
  const order = strips.map((_, i) => i).sort((a, b) => ratios[a]! - ratios[b]!);
  const results: DecodedText[] = new Array(strips.length);
  for (let start = 0; start < order.length; start += batchSize) {
    throwIfAborted(options.signal);
    const indices = order.slice(start, start + batchSize);
    const maxRatio = Math.max(REC_MIN_RATIO, ...indices.map((i) => ratios[i]!));
    const width = Math.trunc(REC_HEIGHT * maxRatio);
    const batch = indices.map((i) => resizeToHeight(strips[i]!, REC_HEIGHT, width));
    const x = toChwTensor(batch, { ...REC_NORMALIZE, padWidth: width });
    const probs = firstOutput(await rec({ x }), 'rec', 3);
    if (probs.dims[2] !== characters.length) {
      throw new TesseraError(
        'invalid-model',
        `the recogniser outputs ${probs.dims[2]} classes but the character list has ${characters.length}; use the dictionary that ships with this model`,
        { details: { classes: probs.dims[2], characters: characters.length } },
      );
    }
    ctcDecode(probs, characters).forEach((decoded, k) => {
      results[indices[k]!] = decoded;
    });
  }
  return results;
}
