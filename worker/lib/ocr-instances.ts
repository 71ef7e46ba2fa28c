/**
 * KServe v1 for an OCR pipeline: `{"instances": [{"image": "<base64 PNG or
 * JPEG>"}]}` -> one `image` tensor per instance. Everything a session would
 * choke on is refused here first: not base64, not a PNG/JPEG magic number,
 * too many bytes or pixels (read from the PNG or JPEG header).
 */
import { imageSize } from '../../src/protocol/image-size.ts';
import { OCR_INPUT, ocrImageTensor, sniffImageType } from '../../src/protocol/ocr-tensors.ts';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { badRequest, HttpError } from '../http-error.ts';

/** Largest decoded image: 4 MiB (a page scan as PNG/JPEG fits; the session decodes it whole). */
export const MAX_OCR_IMAGE_BYTES = 4 * 1024 * 1024;
/** Largest image by pixels (read from its PNG or JPEG header): 40 MP is ~160 MiB of RGBA in the session. */
export const MAX_OCR_PIXELS = 40_000_000;
/** Instances per request; each runs as its own batch. */
export const MAX_OCR_INSTANCES = 16;

const bad = badRequest;
const tooLarge = (message: string, details: Record<string, unknown>): never => {
  throw new HttpError(413, 'payload-too-large', message, { details });
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * @example
 * ocrInstancesToInputs({ instances: [{ image: 'iVBORw0KGgo...' }] }); // [{ image: uint8 [1, n] }]
 */
export function ocrInstancesToInputs(body: unknown): TensorMap[] {
  const instances = (body as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(instances)) bad('body must be a JSON object with an "instances" array, e.g. {"instances": [{"image": "<base64 PNG or JPEG>"}]}');
  const list = instances as unknown[];
  if (list.length === 0) bad('"instances" is empty; send at least one {"image": "<base64>"}');
  if (list.length > MAX_OCR_INSTANCES) tooLarge(`at most ${MAX_OCR_INSTANCES} images per request; split the request`, { limit: MAX_OCR_INSTANCES });
  return list.map((instance, i) => ({ [OCR_INPUT]: ocrImageTensor(decodeInstance(instance, `instances[${i}]`)) }));
}

function decodeInstance(instance: unknown, where: string): Uint8Array {
  const o = instance as { image?: unknown } | null;
  // Accept KServe's binary convention {"image": {"b64": "..."}} as well as a bare string.
  const value = typeof o?.image === 'object' && o.image !== null ? (o.image as { b64?: unknown }).b64 : o?.image;
  if (typeof value !== 'string') return bad(`${where}: expected {"image": "<base64 PNG or JPEG>"}`);
  // A data URL's prefix and line breaks (MIME base64) are tolerated.
  const text = value.replace(/^data:image\/[a-z+.-]+;base64,/i, '').replace(/\s+/g, '');
  if (text.length === 0) return bad(`${where}.image is empty`);
  if (text.length % 4 === 1 || !BASE64.test(text)) return bad(`${where}.image is not base64 (standard alphabet A-Z a-z 0-9 + /, optional = padding)`);
  const size = Math.floor((text.length * 3) / 4) - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);
  if (size > MAX_OCR_IMAGE_BYTES) tooLarge(`${where}.image is ${size} bytes; at most ${MAX_OCR_IMAGE_BYTES} are accepted: scale it down or compress it`, { bytes: size, limitBytes: MAX_OCR_IMAGE_BYTES });
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const type = sniffImageType(bytes);
  if (type === undefined) return bad(`${where}.image is not a PNG or JPEG (its first bytes are not either magic number); convert it to one of those`);
  const dims = imageSize(bytes);
  if (dims && dims.width * dims.height > MAX_OCR_PIXELS) {
    const pixels = dims.width * dims.height;
    tooLarge(`${where}.image is ${dims.width}x${dims.height} pixels; at most ${MAX_OCR_PIXELS / 1e6} MP: scale it down`, { pixels, limitPixels: MAX_OCR_PIXELS });
  }
  return bytes;
}
