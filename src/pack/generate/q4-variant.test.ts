/**
 * The q4 writer: MatMulNBits' packing layout byte for byte (blocks along K,
 * low nibble first, padding, column-major scales, packed zero points), the
 * round-trip error bound, and onnxruntime-node's MatMulNBits computing
 * x @ dequantize(W) from what the writer packed, symmetric and not.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx-model.ts';
import { DataType } from '../onnx-types.ts';
import { driftDecoder, expectLogitDrift, matmulReference, oneMatMul } from '../../../test/helpers/variant-test-models.ts';
import { dequantizeQ4, q4Variant, quantizeQ4 } from './q4-variant.ts';
import { randomFloats } from './seeded-random.ts';
import { bytesToHex } from '../sha256.ts';


describe('quantizeQ4', () => {
  it('packs W [K, N] as [N, blocks, 16] bytes, low nibble first, a short last block padded with the code of 0', () => {
    // K = 40: a full block of 32 and one of 8 (padded); N = 2.
    const k = 40;
    const n = 2;
    const w = new Float32Array(k * n);
    // Column 0, block 0: (r % 16 - 8) / 2, so m = -4, scale 0.5 and code r % 16.
    for (let r = 0; r < 32; r++) w[r * n] = ((r % 16) - 8) / 2;
    // Column 0, block 1: 8 rows, largest magnitude +2 -> scale -0.25; 2 codes 0, -1 codes 12.
    [2, -1, 0, 0.25, 0, 0, 0, 0].forEach((v, i) => (w[(32 + i) * n] = v));
    // Column 1 stays zero: scale 0, every code 8.
    const q = quantizeQ4(w, k, n);
    expect(q.blocks).toBe(2);
    expect(q.packed.length).toBe(n * 2 * 16);
    expect(Array.from(q.scales)).toEqual([0.5, -0.25, 0, 0]);
    expect(bytesToHex(q.packed.subarray(0, 16))).toBe('1032547698badcfe1032547698badcfe');
    // Codes 0, 12, 8, 7 then 8s: bytes 0xc0, 0x78, then padding 0x88.
    expect(bytesToHex(q.packed.subarray(16, 32))).toBe('c078' + '88'.repeat(14));
    expect(bytesToHex(q.packed.subarray(32))).toBe('88'.repeat(32));
    expect(q.zeroPoints).toBeUndefined();
  });

  it('asymmetric: per-block zero points, two a byte, low nibble first, per column', () => {
    const k = 96; // three blocks
    const w = new Float32Array(k);
    w[0] = -5; w[1] = 10; // block 0: [-5, 10] -> scale 1, zero point 5
    w[32] = -15; // block 1: [-15, 0] -> zero point 15
    w[64] = 15; // block 2: [0, 15] -> zero point 0
    const q = quantizeQ4(w, k, 1, { symmetric: false });
    expect(Array.from(q.scales)).toEqual([1, 1, 1]);
    expect(bytesToHex(q.zeroPoints as Uint8Array)).toBe('f500');
    // Block 0 row 0: -5 + 5 = code 0, row 1: 10 + 5 = 15, the rest 0 + 5.
    expect(bytesToHex(q.packed.subarray(0, 2))).toBe('f055');
    expect(Array.from(dequantizeQ4(q))).toEqual(Array.from(w));
  });

  it('round-trips within half a step (a full step where the positive end clamps at code 15)', () => {
    const k = 160;
    const n = 24;
    const w = randomFloats(k * n, 9, 0.3);
    for (const symmetric of [true, false]) {
      const q = quantizeQ4(w, k, n, { symmetric });
      const back = dequantizeQ4(q);
      let worst = 0;
      for (let r = 0; r < k; r++) {
        for (let c = 0; c < n; c++) {
          const step = Math.abs(q.scales[c * q.blocks + Math.floor(r / 32)] as number);
          const err = Math.abs((w[r * n + c] as number) - (back[r * n + c] as number));
          expect(err).toBeLessThanOrEqual(step * (symmetric ? 1 : 0.5) * (1 + 1e-5));
          worst = Math.max(worst, err / step);
        }
      }
      expect(worst).toBeGreaterThan(0.4);
    }
    expect(() => quantizeQ4(w, k, n, { blockSize: 24 })).toThrow(/power of two/);
    expect(() => quantizeQ4(w, k + 1, n)).toThrow(/k \* n/);
  });
});

describe('q4Variant', () => {
  for (const symmetric of [true, false]) {
    it(`onnxruntime-node's MatMulNBits computes x @ dequantize(W) from the packed weights (${symmetric ? 'symmetric' : 'zero points'}, K not a multiple of 32)`, async () => {
      const k = 72;
      const n = 12;
      const w = randomFloats(k * n, 21, 0.5);
      const model = q4Variant(oneMatMul(w, k, n), { symmetric });
      const nodes = model.graph?.node ?? [];
      expect(nodes.map((x) => [x.op_type, x.domain])).toEqual([['MatMulNBits', 'com.microsoft']]);
      expect(Object.fromEntries((nodes[0]?.attribute ?? []).map((a) => [a.name, Number(a.i)]))).toEqual({ K: k, N: n, bits: 4, block_size: 32 });
      expect(model.opset_import).toContainEqual({ domain: 'com.microsoft', version: 1 });
      const b = model.graph?.initializer?.find((t) => t.name === 'w_Q4');
      expect(b).toMatchObject({ data_type: DataType.UINT8, dims: [n, 3, 16] });
      const x = randomFloats(2 * k, 22, 1);
      const session = await ort.InferenceSession.create(encodeModel(model));
      try {
        const y = (await session.run({ x: new ort.Tensor('float32', x, [2, k]) })).y?.data as Float32Array;
        const want = matmulReference(x, 2, dequantizeQ4(quantizeQ4(w, k, n, { symmetric })), k, n);
        const exact = matmulReference(x, 2, w, k, n);
        for (let i = 0; i < y.length; i++) expect(Math.abs((y[i] as number) - (want[i] as number))).toBeLessThan(1e-4);
        // And 4 bits is lossy: the float product differs.
        expect(Math.max(...Array.from(y, (v, i) => Math.abs(v - (exact[i] as number))))).toBeGreaterThan(1e-3);
      } finally {
        await session.release();
      }
    });
  }

  it('quantizes every weight MatMul of a decoder (embeddings stay float); its logits stay near fp32', async () => {
    const { shape, fp32 } = driftDecoder();
    const q4 = q4Variant(fp32);
    const ops = (q4.graph?.node ?? []).map((x) => x.op_type);
    expect(ops.filter((o) => o === 'MatMulNBits').length).toBe(shape.layers * 7 + 1);
    expect(ops.filter((o) => o === 'MatMul').length).toBe(shape.layers * 2);
    const names = new Set(q4.graph?.initializer?.map((t) => t.name));
    expect(names.has('model.embed_tokens.weight')).toBe(true);
    expect(names.has('lm_head.weight')).toBe(false);
    await expectLogitDrift(fp32, q4, shape, 0.3);
  });
});
