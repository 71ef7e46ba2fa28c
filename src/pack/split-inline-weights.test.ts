/**
 * splitInlineWeights on a generated Hugging Face-layout BERT encoder (inline
 * raw_data, as HF exports ship): each large initializer points at its own
 * bytes inside the original file, everything else is unchanged, and
 * onnxruntime-node gives the same outputs for the split graph (with the
 * original file as its external data) as for the original file. Blob and
 * bytes sources give the same graph; malformed files get `invalid-model`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrtNodeSession } from '../backend/ort-node.ts';
import { writeHfEncoder } from '../../test/helpers/hf-model.ts';
import { decodeModel, externalDataEntries } from './onnx-model.ts';
import { blobSource, bytesSource, splitInlineWeights, type ByteSource } from './split-inline-weights.ts';

let dir: string;
let original: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-split-'));
  await writeHfEncoder(dir, { hidden: 32, layers: 2, seed: 5 });
  original = new Uint8Array(await readFile(join(dir, 'onnx', 'model.onnx')));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('splitInlineWeights', () => {
  it('points each large initializer at its raw_data inside the original file and leaves the rest as it was', async () => {
    const split = await splitInlineWeights(bytesSource(original), { location: 'model.onnx' });
    const before = decodeModel(original).graph!;
    const after = decodeModel(split.graph).graph!;
    expect(after.node).toEqual(before.node);
    expect(after.input).toEqual(before.input);
    expect(after.output).toEqual(before.output);
    expect(after.initializer!.map((t) => t.name)).toEqual(before.initializer!.map((t) => t.name));
    let moved = 0;
    let movedBytes = 0;
    for (const [i, t] of after.initializer!.entries()) {
      const was = before.initializer![i]!;
      expect(t.dims).toEqual(was.dims);
      expect(t.data_type).toBe(was.data_type);
      const raw = was.raw_data ?? new Uint8Array(0);
      if (raw.byteLength < 1024) {
        expect(t).toEqual(was);
        continue;
      }
      moved += 1;
      movedBytes += raw.byteLength;
      expect(t.raw_data?.length ?? 0).toBe(0);
      expect(t.data_location).toBe(1);
      const e = externalDataEntries(t);
      expect(e.get('location')).toBe('model.onnx');
      const offset = Number(e.get('offset'));
      const length = Number(e.get('length'));
      expect(length).toBe(raw.byteLength);
      expect(Buffer.from(original.subarray(offset, offset + length)).equals(Buffer.from(raw))).toBe(true);
    }
    expect(moved).toBeGreaterThan(4);
    expect(split.tensors).toBe(moved);
    expect(split.bytes).toBe(movedBytes);
    // What stays is the graph without its weights.
    expect(split.graph.byteLength).toBeLessThan(original.byteLength - movedBytes + 64 * moved);
  });

  it('reads a Blob only around field headers and gives the same graph as from bytes', async () => {
    const fromBytes = await splitInlineWeights(bytesSource(original), { location: 'model.onnx', minBytes: 4096 });
    const blob = new Blob([original as Uint8Array<ArrayBuffer>]);
    let readBytes = 0;
    const counted: ByteSource = {
      size: blob.size,
      read: async (start, end) => {
        readBytes += end - start;
        return blobSource(blob).read(start, end);
      },
    };
    const fromBlob = await splitInlineWeights(counted, { location: 'model.onnx', minBytes: 4096, windowBytes: 64 * 1024 });
    expect(Buffer.from(fromBlob.graph).equals(Buffer.from(fromBytes.graph))).toBe(true);
    expect(fromBlob.tensors).toBe(fromBytes.tensors);
    // Reads cover the small fields and one small window per moved tensor, not the weights.
    expect(readBytes).toBeLessThan(original.byteLength - fromBlob.bytes + fromBlob.tensors * 16 * 1024 + 64 * 1024);
  });

  it('gives onnxruntime-node the same outputs as the original file', async () => {
    const split = await splitInlineWeights(bytesSource(original), { location: 'model.onnx' });
    const whole = await createOrtNodeSession({ graph: original, device: 'cpu' });
    const streamed = await createOrtNodeSession({ graph: split.graph, externalData: [{ path: 'model.onnx', data: original }], device: 'cpu' });
    const ids = BigInt64Array.from([2n, 7n, 9n, 4n, 3n]);
    const feeds = {
      input_ids: { type: 'int64' as const, dims: [1, 5], data: ids },
      attention_mask: { type: 'int64' as const, dims: [1, 5], data: new BigInt64Array(5).fill(1n) },
      token_type_ids: { type: 'int64' as const, dims: [1, 5], data: new BigInt64Array(5) },
    };
    const names = new Set(whole.inputMetadata.map((m) => m.name));
    const used = Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k)));
    const [a, b] = await Promise.all([whole.run(used), streamed.run(used)]);
    const name = Object.keys(a)[0]!;
    expect(Array.from(b[name]!.data as Float32Array)).toEqual(Array.from(a[name]!.data as Float32Array));
    await Promise.all([whole.release(), streamed.release()]);
  });

  it('refuses a file that is not an ONNX model, saying where it broke', async () => {
    const cut = original.subarray(0, Math.floor(original.byteLength / 2));
    await expect(splitInlineWeights(bytesSource(cut), { location: 'model.onnx', file: 'onnx/model.onnx' })).rejects.toMatchObject({
      code: 'invalid-model',
      message: expect.stringMatching(/^onnx\/model\.onnx is not a readable ONNX model: a field at byte \d+ runs past the end/),
    });
    const noise = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
    await expect(splitInlineWeights(bytesSource(noise), { location: 'model.onnx' })).rejects.toMatchObject({ code: 'invalid-model' });
    await expect(splitInlineWeights(bytesSource(new Uint8Array(0)), { location: 'model.onnx' })).rejects.toMatchObject({ code: 'invalid-model', message: expect.stringMatching(/0 graph fields/) });
  });
});
