/**
 * PP-OCR text recognition: pure TypeScript over injected model runners.
 *
 * @example
 * import { recognize, parseCharList, decodeImage } from './engine/ocr/index.ts';
 * const result = await recognize(await decodeImage(bytes), { det, cls, rec }, parseCharList(keys));
 */
export { recognize, type RecognizeOptions } from './recognize.ts';
export { parseCharList } from './char-list.ts';
export { decodeImage, sniffImageType, type ImageDecoder } from './decode-image.ts';
export type { OcrLine, OcrResult, OcrRunners, OcrTimings, Point, Quad, RgbaImage, RunModel } from './types.ts';
