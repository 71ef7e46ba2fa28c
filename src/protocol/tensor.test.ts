import { describe, expect, it } from 'vitest';
import { transferablesOf, validateTensorData, validateTensorMap } from './tensor.ts';

describe('validateTensorData', () => {
  it('accepts matching type, dims and data', () => {
    expect(() => validateTensorData({ type: 'float32', dims: [2, 2], data: new Float32Array(4) }, 'x')).not.toThrow();
    expect(() => validateTensorData({ type: 'int64', dims: [3], data: new BigInt64Array(3) }, 'ids')).not.toThrow();
    expect(() => validateTensorData({ type: 'float16', dims: [1], data: new Uint16Array(1) }, 'h')).not.toThrow();
  });

  it('rejects bad tensors with invalid-argument naming the tensor', () => {
    const bad: [unknown, RegExp][] = [
      [null, /tensor "t": expected/],
      [{ type: 'complex', dims: [1], data: new Float32Array(1) }, /unknown type "complex"/],
      [{ type: 'toString', dims: [1], data: new Float32Array(1) }, /unknown type "toString"/],
      [{ type: 'float32', dims: [1.5], data: new Float32Array(1) }, /non-negative integers/],
      [{ type: 'int64', dims: [2], data: new Int32Array(2) }, /needs data as a BigInt64Array, got Int32Array/],
      [{ type: 'float32', dims: [2, 3], data: new Float32Array(5) }, /hold 6 elements but data has 5/],
      [{ type: 'float32', dims: [1], data: [1] }, /got Array/],
    ];
    for (const [value, message] of bad) {
      expect(() => validateTensorData(value, 't')).toThrow(expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(message) }));
    }
  });

  it('validates every tensor of a map', () => {
    expect(() => validateTensorMap([], 'feeds')).toThrow(/feeds must be an object/);
    expect(() => validateTensorMap({ a: { type: 'uint8', dims: [1], data: new Uint8Array(2) } }, 'feeds')).toThrow(/tensor "a"/);
  });
});

describe('transferablesOf', () => {
  it('lists each buffer once', () => {
    const shared = new Float32Array(8);
    const buffers = transferablesOf({
      a: { type: 'float32', dims: [4], data: shared.subarray(0, 4) },
      b: { type: 'float32', dims: [4], data: shared.subarray(4) },
      c: { type: 'int32', dims: [1], data: new Int32Array(1) },
    });
    expect(buffers).toHaveLength(2);
    expect(buffers[0]).toBe(shared.buffer);
  });
});
