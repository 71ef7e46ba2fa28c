/**
 * Test-only: a generated matmul-chain model split into a graph and external
 * data buffers in memory (the shape a loaded pack hands to a session).
 */
import { matmulChainModel, matmulChainReference, matmulChainWeights, type MatmulChainOptions } from '../pack/generate/matmul-chain.ts';
import { externalizeInitializers } from '../pack/externalize-initializers.ts';
import { encodeModel } from '../pack/onnx-model.ts';
import type { ExternalDataFile } from './ort.ts';

export function matmulChainInMemory(options: MatmulChainOptions & { maxFileSize?: number }): {
  graph: Uint8Array;
  externalData: ExternalDataFile[];
  reference: (input: Float32Array, batch: number) => Float32Array;
} {
  const model = matmulChainModel(options);
  // maxFileSize: split the external data over several files, as packs of multi-GB models are.
  const { files } = externalizeInitializers(model, { baseName: 'model.onnx', minBytes: 0, ...(options.maxFileSize ? { maxFileSize: options.maxFileSize } : {}) });
  const externalData = files.map((file) => {
    const data = new Uint8Array(file.size);
    for (const segment of file.segments) {
      if (segment.source.type !== 'bytes') throw new Error('expected inline bytes');
      data.set(segment.source.bytes, segment.offset);
    }
    return { path: file.location, data };
  });
  const weights = matmulChainWeights(options);
  return { graph: encodeModel(model), externalData, reference: (input, batch) => matmulChainReference(weights, input, batch) };
}
