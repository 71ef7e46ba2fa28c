/**
 * How an OCR pipeline travels through the coordinator, whose sessions run
 * tensors in and tensors out: the encoded image rides as one uint8 row
 * (`image`, dims [1, bytes]) in the binary frame, never as JSON numbers, and
 * the answer comes back as one uint8 row of UTF-8 JSON (`json`). One image per
 * batch: images of different sizes cannot be stacked into one tensor.
 */
import { TesseraError } from '../errors.ts';
import type { TensorSpec } from './coordinator-messages.ts';
import type { TensorData, TensorMap } from './tensor.ts';

export const OCR_INPUT = 'image';
export const OCR_OUTPUT = 'json';

/** What an OCR session declares, so the API can describe the model. */
export const OCR_INPUT_SPECS: TensorSpec[] = [{ name: OCR_INPUT, type: 'uint8', shape: [1, -1] }];
export const OCR_OUTPUT_SPECS: TensorSpec[] = [{ name: OCR_OUTPUT, type: 'uint8', shape: [1, -1] }];

/** One read line: text, corners clockwise from top-left (image pixels), score 0..1. */
export interface OcrPrediction {
  text: string;
  lines: { text: string; box: [number, number][]; score: number }[];
}

/**
 * The format of encoded image bytes from their magic number, or undefined
 * when they are neither PNG nor JPEG.
 *
 * @example
 * sniffImageType(bytes); // 'png'
 */
export function sniffImageType(bytes: Uint8Array): 'png' | 'jpeg' | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/**
 * @example
 * await inferOrThrow(env, 'ppocr-v4', { image: ocrImageTensor(pngBytes) }, { saturation });
 */
export function ocrImageTensor(bytes: Uint8Array): TensorData {
  return { type: 'uint8', dims: [1, bytes.length], data: bytes };
}

/**
 * The encoded image of an OCR batch (which holds exactly one).
 *
 * @example
 * const bytes = ocrImageOf(message.inputs);
 */
export function ocrImageOf(inputs: TensorMap): Uint8Array {
  const t = inputs[OCR_INPUT];
  if (!t || t.type !== 'uint8' || t.dims.length !== 2 || t.dims[0] !== 1) {
    throw new TesseraError('invalid-argument', `an OCR request needs one "${OCR_INPUT}" tensor: uint8 of dims [1, bytes] holding a PNG or JPEG`, {
      details: { dims: t?.dims, type: t?.type },
    });
  }
  return t.data as Uint8Array;
}

/**
 * @example
 * send({ type: 'result', requestIds, outputs: { json: ocrResultTensor({ text, lines }) } });
 */
export function ocrResultTensor(prediction: OcrPrediction): TensorData {
  const bytes = new TextEncoder().encode(JSON.stringify({ text: prediction.text, lines: prediction.lines }));
  return { type: 'uint8', dims: [1, bytes.length], data: bytes };
}

/**
 * The prediction in a session's outputs; `backend-error` when they are not one.
 *
 * @example
 * const { text, lines } = readOcrResult(outputs);
 */
export function readOcrResult(outputs: TensorMap): OcrPrediction {
  const t = outputs[OCR_OUTPUT];
  const fail = (why: string): never => {
    throw new TesseraError('backend-error', `the session's OCR answer ${why}`);
  };
  if (!t || t.type !== 'uint8') return fail(`has no uint8 "${OCR_OUTPUT}" output`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(t.data as Uint8Array));
  } catch {
    return fail('is not JSON');
  }
  const v = value as Partial<OcrPrediction> | null;
  if (typeof v?.text !== 'string' || !Array.isArray(v.lines)) return fail('is not { text, lines }');
  return { text: v.text, lines: v.lines };
}
