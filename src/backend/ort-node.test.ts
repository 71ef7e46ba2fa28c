/**
 * onnxruntime-node sessions against onnxruntime-web's wasm on the same
 * generated graphs (MatMul chain with external data, a transformer block):
 * same outputs within float32 tolerance, the device and reason reported,
 * unavailable providers refused with what is installed.
 */
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../pack/onnx-model.ts';
import { transformerBlockModel } from '../pack/generate/transformer-block.ts';
import type { NativeDevice } from '../protocol/device.ts';
import { createOrtNodeSession, detectNativeProviders } from './ort-node.ts';
import { createOrtSession } from './ort.ts';
import { matmulChainInMemory } from './test-model.ts';

const d = 32;
const chain = matmulChainInMemory({ d, layers: 3, seed: 7 });
const input = Float32Array.from({ length: 4 * d }, (_, i) => Math.sin(i));

function worstRelative(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) / Math.max(1, Math.abs(e)));
  }
  return worst;
}

describe('createOrtNodeSession (onnxruntime-node)', () => {
  it('auto takes native cpu, says version and threads, and matches the reference and wasm on the MatMul chain', async () => {
    const native = await createOrtNodeSession({ graph: chain.graph, externalData: chain.externalData, device: 'auto' });
    expect(native.device).toBe('cpu');
    expect(native.reason).toMatch(/^cpu: onnxruntime-node 1\.\d+\.\d+, \d+ threads?( \(.*\))?$/);
    expect(native.inputMetadata).toEqual([{ name: 'input', type: 'float32', shape: ['batch', d] }]);
    const wasm = await createOrtSession({ graph: chain.graph, externalData: chain.externalData, device: 'wasm' });
    const feeds = { input: { type: 'float32' as const, dims: [4, d], data: input } };
    const [a, b] = await Promise.all([native.run(feeds), wasm.run(feeds)]);
    expect(a.output?.dims).toEqual([4, d]);
    // A whole buffer: transferable without dragging a Node Buffer slab along.
    expect(a.output?.data.byteLength).toBe(a.output?.data.buffer.byteLength);
    expect(worstRelative(a.output?.data as Float32Array, chain.reference(input, 4))).toBeLessThan(1e-4);
    expect(worstRelative(a.output?.data as Float32Array, b.output?.data as Float32Array)).toBeLessThan(1e-4);
    await Promise.all([native.release(), wasm.release()]);
    await expect(native.run(feeds)).rejects.toMatchObject({ code: 'session-closed' });
  });

  it('matches wasm on the transformer block; threads and prepack are honoured', async () => {
    const graph = encodeModel(transformerBlockModel({ d: 64, heads: 4, seed: 3 }));
    const native = await createOrtNodeSession({ graph, device: 'cpu', threads: 1, prepack: false });
    expect(native.reason).toBe(`cpu: onnxruntime-node ${(await detectNativeProviders()).version}, 1 thread, requested`);
    const wasm = await createOrtSession({ graph, device: 'wasm' });
    const name = native.inputNames[0] as string;
    const x = Float32Array.from({ length: 2 * 5 * 64 }, (_, i) => Math.cos(i * 0.37));
    const feeds = { [name]: { type: 'float32' as const, dims: [2, 5, 64], data: x } };
    const [a, b] = await Promise.all([native.run(feeds), wasm.run(feeds)]);
    const out = native.outputNames[0] as string;
    expect(a[out]?.dims).toEqual([2, 5, 64]);
    expect(worstRelative(a[out]?.data as Float32Array, b[out]?.data as Float32Array)).toBeLessThan(1e-4);
    await Promise.all([native.release(), wasm.release()]);
  });

  it('rejects bad feeds like the wasm session does', async () => {
    const native = await createOrtNodeSession({ graph: chain.graph, externalData: chain.externalData, device: 'cpu' });
    await expect(native.run({ inptu: { type: 'float32', dims: [1, d], data: new Float32Array(d) } })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/unknown input "inptu"/) });
    await expect(native.run({ input: { type: 'float32', dims: [1, 3], data: new Float32Array(3) } })).rejects.toMatchObject({ code: 'backend-error', message: expect.stringMatching(/^onnxruntime-node: run failed/) });
    await native.release();
  });

  it('an explicitly requested provider that is not installed fails with device-unavailable naming what is', async () => {
    const providers = await detectNativeProviders();
    expect(providers.installed).toContain('cpu');
    const absent = (['cuda', 'dml', 'coreml'] as NativeDevice[]).find((p) => !providers.installed.includes(p));
    expect(absent).toBeDefined(); // no platform has all three
    const err = await createOrtNodeSession({ graph: chain.graph, externalData: chain.externalData, device: absent as NativeDevice }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'device-unavailable', details: { requested: absent, installed: ['wasm', ...providers.installed] } });
    expect((err as Error).message).toMatch(new RegExp(`^device '${absent}' is not available: .*Installed: wasm, ${providers.installed.join(', ')}; use one of those or 'auto'`));
  });
});
