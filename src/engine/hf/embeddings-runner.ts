/**
 * A feature-extraction pipeline as a coordinator session model: the batch's
 * text rows are decoded, tokenized and embedded together (mean pooling,
 * L2-normalised), so requests the coordinator stacked share one run.
 */
import type { ModelOffer, TensorSpec } from '../../protocol/coordinator-messages.ts';
import type { TensorMap } from '../../protocol/tensor.ts';
import { EMBEDDINGS_OUTPUT, TEXT_INPUT, TEXT_ROW_BYTES, TOKENS_OUTPUT, decodeTextRows } from '../../protocol/text-tensors.ts';
import { TesseraError } from '../../errors.ts';
import type { HfPipeline } from './pipeline.ts';

/**
 * @example
 * const runner = embeddingsRunner(await pipeline('feature-extraction', 'org/bert', { source }), { name: 'bert', hidden: 384 });
 * connectSession({ ..., models: [runner.offer], runModel: (m, inputs) => runner.run(inputs) });
 */
export function embeddingsRunner(pipe: HfPipeline, options: { name: string; revision?: string; hidden: number; maxBatch?: number }): { offer: ModelOffer; run(inputs: TensorMap): Promise<TensorMap> } {
  const inputs: TensorSpec[] = [{ name: TEXT_INPUT, type: 'uint8', shape: [-1, TEXT_ROW_BYTES] }];
  const outputs: TensorSpec[] = [
    { name: EMBEDDINGS_OUTPUT, type: 'float32', shape: [-1, options.hidden] },
    { name: TOKENS_OUTPUT, type: 'int32', shape: [-1] },
  ];
  return {
    offer: { name: options.name, revision: options.revision ?? '1', maxBatch: options.maxBatch ?? 32, inputs, outputs },
    async run(feeds) {
      const text = feeds[TEXT_INPUT];
      if (!text || text.type !== 'uint8') throw new TesseraError('invalid-argument', `expected a uint8 "${TEXT_INPUT}" input of [n, ${TEXT_ROW_BYTES}] UTF-8 rows`);
      const texts = decodeTextRows(text.data as Uint8Array);
      const out = await pipe(texts, { pooling: 'mean', normalize: true });
      const tokens = await pipe.countTokens(texts);
      return {
        [EMBEDDINGS_OUTPUT]: { type: 'float32', dims: out.dims, data: out.data },
        [TOKENS_OUTPUT]: { type: 'int32', dims: [texts.length], data: Int32Array.from(tokens) },
      };
    },
  };
}
