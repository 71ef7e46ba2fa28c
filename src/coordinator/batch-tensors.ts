/**
 * Dynamic batching's tensor half: requests' inputs are concatenated along
 * dim 0 into one feed, and the batch's outputs are split back by row counts.
 * Two requests batch together only when every input has the same name set,
 * type and trailing dims ({@link batchSignature} is equal); anything else is
 * sent as a separate batch rather than padded, because padding changes what
 * many models compute (attention over pad tokens, batch norm statistics).
 */
import { TesseraError } from '../errors.ts';
import type { TensorData, TensorMap } from '../protocol/tensor.ts';
import { makeArray } from '../protocol/tensor-frame.ts';

/**
 * A string equal for two input maps exactly when they can share a batch, or
 * undefined when this request cannot be batched at all (a scalar input, or
 * inputs that disagree on dim 0).
 *
 * @example
 * batchSignature({ x: { type: 'float32', dims: [2, 3], data } }); // 'x:float32:3'
 */
export function batchSignature(inputs: TensorMap): string | undefined {
  const names = Object.keys(inputs).sort();
  if (names.length === 0) return undefined;
  let rows: number | undefined;
  const parts: string[] = [];
  for (const name of names) {
    const t = inputs[name] as TensorData;
    if (t.dims.length === 0) return undefined;
    if (rows !== undefined && t.dims[0] !== rows) return undefined;
    rows = t.dims[0];
    parts.push(`${JSON.stringify(name)}:${t.type}:${t.dims.slice(1).join('x')}`);
  }
  return parts.join('|');
}

/** Rows (dim 0) of a request's inputs; 1 for inputs that cannot batch. */
export function batchRows(inputs: TensorMap): number {
  const first = Object.values(inputs)[0];
  return first && first.dims.length > 0 && batchSignature(inputs) !== undefined ? (first.dims[0] as number) : 1;
}

/**
 * Concatenates requests' inputs along dim 0. All must share a
 * {@link batchSignature}; throws `invalid-argument` otherwise.
 *
 * @example
 * const { inputs, batchSizes } = batchTensors([a.inputs, b.inputs]);
 */
export function batchTensors(requests: readonly TensorMap[]): { inputs: TensorMap; batchSizes: number[] } {
  const first = requests[0];
  if (first === undefined) throw new TesseraError('invalid-argument', 'batchTensors needs at least one request');
  if (requests.length === 1) return { inputs: first, batchSizes: [batchRows(first)] };
  const signature = batchSignature(first);
  requests.forEach((r, i) => {
    const s = batchSignature(r);
    if (s === undefined || s !== signature) {
      throw new TesseraError('invalid-argument', `request ${i} cannot batch with request 0: inputs differ in names, types or trailing dims (${s ?? 'unbatchable'} vs ${signature ?? 'unbatchable'})`);
    }
  });
  const batchSizes = requests.map(batchRows);
  const inputs: TensorMap = {};
  for (const name of Object.keys(first)) {
    inputs[name] = concatRows(requests.map((r) => r[name] as TensorData));
  }
  return { inputs, batchSizes };
}

function concatRows(parts: readonly TensorData[]): TensorData {
  const head = parts[0] as TensorData;
  const rows = parts.reduce((n, t) => n + (t.dims[0] as number), 0);
  const length = parts.reduce((n, t) => n + t.data.length, 0);
  const data = makeArray(head.type, length);
  let at = 0;
  for (const t of parts) {
    // set() across the same typed array kind copies bytes exactly (bigint too).
    (data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(t.data, at);
    at += t.data.length;
  }
  return { type: head.type, dims: [rows, ...head.dims.slice(1)], data };
}

/**
 * Splits a batch's outputs back per request by row counts. Every output must
 * have dim 0 equal to the sum of `batchSizes`; throws `backend-error` naming
 * the output otherwise (a session that dropped or reordered rows).
 *
 * @example
 * const perRequest = splitBatch(result.outputs, [1, 2]); // [{ y: [1, ..] }, { y: [2, ..] }]
 */
export function splitBatch(outputs: TensorMap, batchSizes: readonly number[]): TensorMap[] {
  if (batchSizes.length === 1) return [outputs];
  const total = batchSizes.reduce((a, b) => a + b, 0);
  const result: TensorMap[] = batchSizes.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims.length === 0 || t.dims[0] !== total) {
      throw new TesseraError('backend-error', `output "${name}" has dims [${t.dims.join(', ')}]; a batch of ${total} rows needs dim 0 = ${total}`);
    }
    const rowLength = total === 0 ? 0 : t.data.length / total;
    let row = 0;
    batchSizes.forEach((rows, i) => {
      // slice, not subarray: each response owns its bytes and can be transferred.
      const data = t.data.slice(row * rowLength, (row + rows) * rowLength) as TensorData['data'];
      (result[i] as TensorMap)[name] = { type: t.type, dims: [rows, ...t.dims.slice(1)], data };
      row += rows;
    });
  }
  return result;
}
