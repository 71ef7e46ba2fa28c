import type { RgbaImage, TensorData } from './types.ts';

export interface NormalizeOptions {
  /** Per channel, in the tensor's channel order (B, G, R), on the 0..1 scale. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Pads the tensor on the right to this width with zeros (after normalising). */
  padWidth?: number;
}

/** PaddleOCR's detector normalisation (ImageNet statistics). */
export const DET_NORMALIZE = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } satisfies NormalizeOptions;

/** PaddleOCR's classifier and recogniser normalisation: to -1..1. */
export const REC_NORMALIZE = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } satisfies NormalizeOptions;

/**
 * Writes images into one NCHW float32 tensor. Channels go in B, G, R order
 * because PaddleOCR reads images with OpenCV (BGR) and its models were
 * trained so; the ImageNet mean is applied in that order too, as PaddleOCR does.
 *
 * @example
 * const x = toChwTensor([lineImage], { ...REC_NORMALIZE, padWidth: 320 });
 * // x.dims = [1, 3, 48, 320]
 */
export function toChwTensor(images: RgbaImage[], options: NormalizeOptions): TensorData {
  const first = images[0];
  const height = first?.height ?? 0;
  const width = Math.max(options.padWidth ?? 0, ...images.map((i) => i.width));
  const plane = width * height;
  const data = new Float32Array(images.length * 3 * plane);
  const scale = [0, 1, 2].map((c) => 1 / (255 * options.std[c]!));
  const shift = [0, 1, 2].map((c) => options.mean[c]! / options.std[c]!);
  images.forEach((image, n) => {
    for (let c = 0; c < 3; c++) {
      const source = 2 - c; // B, G, R from R, G, B, A
      const base = (n * 3 + c) * plane;
      const s = scale[c]!;
      const m = shift[c]!;
      for (let y = 0; y < image.height; y++) {
        const row = base + y * width;
        let i = y * image.width * 4 + source;
        for (let x = 0; x < image.width; x++, i += 4) data[row + x] = image.data[i]! * s - m;
      }
    }
  });
  return { type: 'float32', dims: [images.length, 3, height, width], data };
}
