/**
 * What onnxruntime-web (src/backend/ort.ts) and onnxruntime-node
 * (src/backend/ort-node.ts) sessions share around a run: feed checks, output
 * tensors as whole transferable buffers, value metadata, abort. Both runtimes
 * hand out onnxruntime-common's Tensor and ValueMetadata, so one shape fits.
 */
import { TesseraError } from '../errors.ts';
import type { ValueInfo } from '../protocol/device.ts';
import type { TensorData, TensorMap, TensorType } from '../protocol/tensor.ts';
import { validateTensorMap } from '../protocol/tensor.ts';

/** The part of onnxruntime-common's Tensor read here. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** onnxruntime-common's InferenceSession.ValueMetadata, either variant. */
export type OrtValueMetadataLike = { name: string; isTensor: false } | { name: string; isTensor: true; type: string; shape: readonly (number | string)[] };

/**
 * Feeds must be valid tensors naming exactly the model's inputs.
 *
 * @example
 * checkFeeds({ input: x }, ['input']); // throws invalid-argument for unknown or missing names
 */
export function checkFeeds(feeds: TensorMap, inputNames: readonly string[], keptNames: readonly string[] = []): void {
  validateTensorMap(feeds, 'feeds');
  // keptNames: inputs fed with tensors ORT kept from an earlier run (a KV cache), checked by name only.
  for (const name of [...Object.keys(feeds), ...keptNames]) {
    if (!inputNames.includes(name)) {
      throw new TesseraError('invalid-argument', `unknown input "${name}"; the model's inputs are: ${inputNames.join(', ')}`, {
        details: { input: name, inputNames: [...inputNames] },
      });
    }
  }
  const missing = inputNames.filter((name) => !(name in feeds) && !keptNames.includes(name));
  if (missing.length > 0) {
    throw new TesseraError('invalid-argument', `missing input${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`, {
      details: { missing },
    });
  }
}

/**
 * An ORT output as TensorData with a buffer of its own.
 *
 * @example
 * const out = fromOrtTensor('output', results.output); // out.data.buffer holds only this tensor
 */
export function fromOrtTensor(name: string, tensor: OrtTensorLike): TensorData {
  const type = tensor.type;
  if (type === 'string') {
    throw new TesseraError('backend-error', `output "${name}" is a string tensor, which Tessera does not carry`);
  }
  let data = tensor.data as ArrayBufferView;
  if (type === 'float16' && !(data instanceof Uint16Array)) {
    // ORT hands out Float16Array where the runtime has one; carry the raw bits.
    data = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  }
  // A view into a larger buffer (ORT's heap, a pooled buffer, a Node Buffer
  // slab) would drag the whole buffer along when transferred: copy it out.
  const copy = data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer);
  const out = (copy ? (data as unknown as { slice(): ArrayBufferView }).slice() : data) as TensorData['data'];
  return { type: type as TensorType, dims: [...tensor.dims], data: out };
}

/** @example toValueInfo(session.inputMetadata[0]); // { name: 'input', type: 'float32', shape: ['batch', 32] } */
export function toValueInfo(meta: OrtValueMetadataLike): ValueInfo {
  if (!meta.isTensor) return { name: meta.name };
  return { name: meta.name, type: meta.type, shape: [...meta.shape] };
}

/**
 * Rejects at once when `signal` fires. ORT cannot stop a run in the middle;
 * the result, when it comes, is dropped.
 *
 * @example
 * await withAbort(session.run(feeds), signal);
 */
export function withAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TesseraError('aborted', 'The run was aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** @example throw closedError(); */
export function closedError(): TesseraError {
  return new TesseraError('session-closed', 'The session was released; load the model again to run it');
}
