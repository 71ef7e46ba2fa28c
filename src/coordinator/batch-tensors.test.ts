import { describe, expect, it } from 'vitest';
import type { TensorData } from '../protocol/tensor.ts';
import { batchSignature, batchTensors, splitBatch } from './batch-tensors.ts';

const ids = (rows: bigint[][]): TensorData => ({ type: 'int64', dims: [rows.length, rows[0]?.length ?? 0], data: new BigInt64Array(rows.flat()) });

describe('batchTensors / splitBatch', () => {
  it('concatenates along dim 0 and splits back exactly (int64)', () => {
    const a = { ids: ids([[1n, 2n]]), mask: { type: 'bool' as const, dims: [1, 2], data: new Uint8Array([1, 1]) } };
    const b = { ids: ids([[3n, 4n], [5n, 6n]]), mask: { type: 'bool' as const, dims: [2, 2], data: new Uint8Array([1, 0, 1, 1]) } };
    const { inputs, batchSizes } = batchTensors([a, b]);
    expect(batchSizes).toEqual([1, 2]);
    expect(inputs.ids).toEqual(ids([[1n, 2n], [3n, 4n], [5n, 6n]]));
    const [ra, rb] = splitBatch({ out: inputs.ids as TensorData }, batchSizes);
    expect(ra?.out).toEqual(a.ids);
    expect(rb?.out).toEqual(b.ids);
  });

  it('gives mismatched shapes, types or names different signatures and refuses to batch them', () => {
    const f = (dims: number[], type: 'float32' | 'int32' = 'float32'): TensorData =>
      type === 'float32' ? { type, dims, data: new Float32Array(dims.reduce((x, y) => x * y, 1)) } : { type, dims, data: new Int32Array(dims.reduce((x, y) => x * y, 1)) };
    expect(batchSignature({ x: f([1, 3]) })).toBe(batchSignature({ x: f([4, 3]) }));
    expect(batchSignature({ x: f([1, 3]) })).not.toBe(batchSignature({ x: f([1, 4]) }));
    expect(batchSignature({ x: f([1, 3]) })).not.toBe(batchSignature({ x: f([1, 3], 'int32') }));
    expect(batchSignature({ x: f([1, 3]) })).not.toBe(batchSignature({ y: f([1, 3]) }));
    expect(batchSignature({ x: f([]) })).toBeUndefined();
    expect(batchSignature({ x: f([1, 3]), y: f([2, 3]) })).toBeUndefined();
    expect(() => batchTensors([{ x: f([1, 3]) }, { x: f([1, 4]) }])).toThrow(/cannot batch/);
  });

  it('rejects outputs whose dim 0 does not cover the batch', () => {
    expect(() => splitBatch({ y: { type: 'float32', dims: [2], data: new Float32Array(2) } }, [1, 2])).toThrow(/dim 0 = 3/);
  });
});
