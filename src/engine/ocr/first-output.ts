import { TesseraError } from '../../errors.ts';
import type { TensorData } from './types.ts';

/**
 * The single output of a PP-OCR model, checked for rank and element type.
 * Output names differ between exports (`sigmoid_0.tmp_0`, `softmax_11.tmp_0`),
 * so the pipeline does not depend on them.
 *
 * @example
 * const prob = firstOutput(await runners.det({ x }), 'det', 4);
 */
export function firstOutput(outputs: Record<string, TensorData>, model: string, rank: number): TensorData & { data: Float32Array } {
  const tensor = Object.values(outputs)[0];
  if (tensor === undefined) {
    throw new TesseraError('backend-error', `the ${model} model returned no output`, { details: { model } });
  }
  if (tensor.type !== 'float32' || !(tensor.data instanceof Float32Array) || tensor.dims.length !== rank) {
    throw new TesseraError(
      'invalid-model',
      `the ${model} model returned a ${tensor.type} tensor of dims [${tensor.dims.join(', ')}]; expected float32 of rank ${rank} (is this the PP-OCR ${model} model?)`,
      { details: { model, type: tensor.type, dims: tensor.dims } },
    );
  }
  return tensor as TensorData & { data: Float32Array };
}
