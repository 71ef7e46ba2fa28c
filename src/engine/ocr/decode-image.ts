import { TesseraError } from '../../errors.ts';
import type { RgbaImage } from './types.ts';
import { sniffImageType } from '../../protocol/ocr-tensors.ts';

// Moved to the protocol layer so the Worker can check uploads without the engine.
export { sniffImageType };

/** Decodes encoded image bytes (PNG, JPEG) to RGBA. */
export type ImageDecoder = (bytes: Uint8Array) => Promise<RgbaImage>;

/**
 * Decodes a PNG or JPEG to RGBA, with transparency flattened onto white (a
 * transparent background is usually meant as paper, and the models see no
 * alpha). Browsers and workers decode with `createImageBitmap` and an
 * OffscreenCanvas; Node loads a pure-JS decoder on first use, so browser
 * bundles never include it. Pass `decoder` to use another.
 *
 * @example
 * const image = await decodeImage(new Uint8Array(await file.arrayBuffer()));
 */
export async function decodeImage(bytes: Uint8Array, decoder?: ImageDecoder): Promise<RgbaImage> {
  const type = sniffImageType(bytes);
  if (type === undefined) {
    throw new TesseraError('invalid-argument', 'the image is neither PNG nor JPEG (checked its first bytes); convert it to one of those', {
      details: { length: bytes.length },
    });
  }
  const decode = decoder ?? (await defaultDecoder());
  let image: RgbaImage;
  try {
    image = await decode(bytes);
  } catch (error) {
    throw new TesseraError('invalid-argument', `the ${type.toUpperCase()} image could not be decoded: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      details: { type },
    });
  }
  return flattenAlpha(image);
}

async function defaultDecoder(): Promise<ImageDecoder> {
  if (typeof createImageBitmap === 'function' && typeof OffscreenCanvas === 'function') return decodeWithCanvas;
  // A variable specifier keeps bundlers from following this Node-only import.
  const specifier = './decode-image-node.ts';
  const module = (await import(/* @vite-ignore */ specifier)) as { decodeImageNode: ImageDecoder };
  return module.decodeImageNode;
}

async function decodeWithCanvas(bytes: Uint8Array): Promise<RgbaImage> {
  const bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    if (context === null) throw new TesseraError('device-unavailable', 'OffscreenCanvas gave no 2d context');
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** Composites RGBA onto white in place, leaving every pixel opaque. */
export function flattenAlpha(image: RgbaImage): RgbaImage {
  const d = image.data;
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3]!;
    if (a === 255) continue;
    const k = a / 255;
    d[i] = d[i]! * k + 255 * (1 - k);
    d[i + 1] = d[i + 1]! * k + 255 * (1 - k);
    d[i + 2] = d[i + 2]! * k + 255 * (1 - k);
    d[i + 3] = 255;
  }
  return image;
}
