/**
 * An OCR pipeline as a coordinator session serves it: the offer it joins
 * with, and the batch runner that turns the `image` tensor (encoded PNG/JPEG
 * bytes) into the `json` tensor (the prediction). See protocol/ocr-tensors.ts.
 */
import type { ModelOffer } from '../../protocol/coordinator-messages.ts';
import { OCR_INPUT_SPECS, OCR_OUTPUT, OCR_OUTPUT_SPECS, ocrImageOf, ocrResultTensor } from '../../protocol/ocr-tensors.ts';
import type { TensorMap } from '../../protocol/tensor.ts';
import type { OcrPipeline } from './pipeline.ts';

export interface Servable {
  offer: ModelOffer;
  run(inputs: TensorMap, signal: AbortSignal): Promise<TensorMap>;
}

/**
 * @example
 * const { offer, run } = ocrServable('ppocr-v4', pipeline);
 * connectSession({ ..., models: [offer], runModel: (_m, inputs, signal) => run(inputs, signal) });
 */
export function ocrServable(name: string, pipeline: OcrPipeline): Servable {
  return {
    // One image per batch: encoded images of different sizes cannot be stacked.
    offer: { name, revision: pipeline.manifest.revision, maxBatch: 1, inputs: OCR_INPUT_SPECS, outputs: OCR_OUTPUT_SPECS, pipeline: 'ocr' },
    async run(inputs, signal) {
      const result = await pipeline.recognize(ocrImageOf(inputs), { signal });
      return { [OCR_OUTPUT]: ocrResultTensor(result) };
    },
  };
}
