import { resizeBilinear } from './resize-bilinear.ts';
import type { RgbaImage } from './types.ts';

/**
 * Scales a text strip to `height`, keeping its aspect ratio, at most
 * `maxWidth` wide (PaddleOCR's `resize_norm_img`: width = ceil(height * ratio)).
 *
 * @example
 * resizeToHeight(strip, 48, 320);
 */
export function resizeToHeight(image: RgbaImage, height: number, maxWidth: number): RgbaImage {
  const width = Math.max(1, Math.min(maxWidth, Math.ceil((height * image.width) / image.height)));
  return resizeBilinear(image, width, height);
}
