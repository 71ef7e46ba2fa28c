import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { decodeFrame, encodeFrame } from './tensor-frame.ts';
import type { TensorData } from './tensor.ts';

const f32: TensorData = { type: 'float32', dims: [2, 3], data: new Float32Array([1, 2.5, -3, 4, 5, 6e10]) };
const i64: TensorData = { type: 'int64', dims: [3], data: new BigInt64Array([1n, -2n, 9007199254740993n]) };
const u8: TensorData = { type: 'bool', dims: [3], data: new Uint8Array([1, 0, 1]) };
const f16: TensorData = { type: 'float16', dims: [1, 1], data: new Uint16Array([0x3c00]) };

function expectBad(fn: () => unknown, text: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isTesseraError(err, 'bad-request')).toBe(true);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected bad-request');
}

describe('tensor frames', () => {
  it('round-trips every kind of tensor with its header, bytes exact', () => {
    const bytes = encodeFrame({ type: 'infer', n: 1 }, [u8, f32, i64, f16]);
    const { header, tensors } = decodeFrame(bytes);
    expect(header).toEqual({ type: 'infer', n: 1 });
    expect(tensors).toEqual([u8, f32, i64, f16]);
    expect(tensors[2]?.data).toBeInstanceOf(BigInt64Array);
  });

  it('is binary, not JSON numbers: payload size is the tensor bytes plus a small header', () => {
    const big: TensorData = { type: 'float32', dims: [256, 256], data: new Float32Array(65536).map((_, i) => Math.sin(i)) };
    const bytes = encodeFrame({}, [big]);
    expect(bytes.byteLength).toBeLessThan(big.data.byteLength + 200);
    expect(bytes.byteLength).toBeGreaterThanOrEqual(big.data.byteLength);
  });

  it('aligns payloads to 8 bytes so int64 data are views without copies', () => {
    const bytes = encodeFrame({ x: 'abc' }, [u8, i64]);
    const { tensors } = decodeFrame(bytes);
    expect(tensors[1]?.data.buffer).toBe(bytes.buffer);
    expect((tensors[1]?.data.byteOffset ?? 1) % 8).toBe(0);
  });

  it('copies when the frame itself sits at an unaligned offset', () => {
    const bytes = encodeFrame({}, [i64]);
    const shifted = new Uint8Array(bytes.byteLength + 3);
    shifted.set(bytes, 3);
    const { tensors } = decodeFrame(shifted.subarray(3));
    expect(tensors[0]).toEqual(i64);
  });

  it('writes little-endian bytes', () => {
    const bytes = encodeFrame({}, [{ type: 'int32', dims: [1], data: new Int32Array([0x01020304]) }]);
    expect([...bytes.subarray(bytes.byteLength - 8, bytes.byteLength - 4)]).toEqual([4, 3, 2, 1]);
  });

  it('refuses truncation at every length', () => {
    const bytes = encodeFrame({ a: 1 }, [f32, i64]);
    for (let n = 0; n < bytes.byteLength; n++) {
      expect(() => decodeFrame(bytes.subarray(0, n)), `length ${n}`).toThrow();
    }
    expectBad(() => decodeFrame(bytes.subarray(0, bytes.byteLength - 1)), /truncated/);
    expectBad(() => decodeFrame(bytes.subarray(0, 4)), /shorter than the 8-byte prefix/);
  });

  it('refuses bad magic, trailing bytes, lying lengths and unknown types', () => {
    const bytes = encodeFrame({}, [f32]);
    const wrongMagic = bytes.slice();
    wrongMagic[0] = 0;
    expectBad(() => decodeFrame(wrongMagic), /bad magic/);
    const longer = new Uint8Array(bytes.byteLength + 8);
    longer.set(bytes);
    expectBad(() => decodeFrame(longer), /trailing bytes/);
    const forge = (t: unknown): Uint8Array => {
      const json = new TextEncoder().encode(JSON.stringify({ h: {}, t: [t] }));
      const out = new Uint8Array(Math.ceil((8 + json.length) / 8) * 8 + 24);
      out.set([0x54, 0x53, 0x46, 0x31]);
      new DataView(out.buffer).setUint32(4, json.length, true);
      out.set(json, 8);
      return out;
    };
    expectBad(() => decodeFrame(forge({ type: 'float32', dims: [2, 3], offset: 0, bytes: 12 })), /needs 24 bytes/);
    expectBad(() => decodeFrame(forge({ type: 'string', dims: [1], offset: 0, bytes: 4 })), /unknown type "string"/);
    expectBad(() => decodeFrame(forge({ type: 'float32', dims: [-1], offset: 0, bytes: 4 })), /non-negative/);
    expectBad(() => decodeFrame(forge({ type: 'float32', dims: [2], offset: 8, bytes: 8 })), /offset 8, expected 0/);
    expectBad(() => decodeFrame(forge({ type: 'float32', dims: [100], offset: 0, bytes: 400 })), /truncated/);
  });

  it('refuses to encode a tensor whose data does not match its dims', () => {
    expect(() => encodeFrame({}, [{ type: 'float32', dims: [5], data: new Float32Array(4) }])).toThrow(/hold 5 elements/);
  });
});
