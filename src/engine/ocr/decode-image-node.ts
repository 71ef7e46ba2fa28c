/**
 * PNG and JPEG decoding for Node with pure-JS decoders (no native build).
 * Imported dynamically by decode-image.ts only where there is no
 * createImageBitmap, so browser bundles never include it.
 */
import { TesseraError } from '../../errors.ts';
import type { RgbaImage } from './types.ts';

/** Refuse images whose RGBA would not fit comfortably in memory (~400 MiB). */
const MAX_PIXELS = 100_000_000;

/**
 * @example
 * const image = await decodeImageNode(readFileSync('scan.png'));
 */
export async function decodeImageNode(bytes: Uint8Array): Promise<RgbaImage> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] === 0x89) {
    const { PNG } = await import('pngjs');
    const png = PNG.sync.read(buffer);
    return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length) };
  }
  const jpeg = await import('jpeg-js');
  const decoded = jpeg.default.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6 });
  if (decoded.width * decoded.height > MAX_PIXELS) {
    throw new TesseraError('payload-too-large', `the image is ${decoded.width}x${decoded.height}; OCR takes at most ${MAX_PIXELS / 1e6} megapixels`);
  }
  return { width: decoded.width, height: decoded.height, data: new Uint8ClampedArray(decoded.data.buffer, decoded.data.byteOffset, decoded.data.length) };
}
