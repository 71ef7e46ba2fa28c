import { describe, expect, it } from 'vitest';
import { createOrtSession } from './ort.ts';
import { matmulChainInMemory } from './test-model.ts';

const d = 32;
const model = matmulChainInMemory({ d, layers: 3, seed: 7 });
const input = Float32Array.from({ length: 2 * d }, (_, i) => Math.sin(i));

function expectClose(actual: Float32Array, expected: Float32Array, rel = 1e-4) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    expect(Math.abs((actual[i] as number) - e)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(e)));
  }
}

describe('createOrtSession (Node, onnxruntime-web wasm in-process)', () => {
  it('auto picks wasm in Node, says why, and runs with external data', async () => {
    expect(model.externalData.length).toBe(1);
    const session = await createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'auto' });
    expect(session.device).toBe('wasm');
    expect(session.reason).toBe('wasm: navigator.gpu missing');
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    expect(session.inputMetadata).toEqual([{ name: 'input', type: 'float32', shape: ['batch', d] }]);
    const { output } = await session.run({ input: { type: 'float32', dims: [2, d], data: input } });
    expect(output?.type).toBe('float32');
    expect(output?.dims).toEqual([2, d]);
    // Output buffers are whole (transferable without dragging a heap along).
    expect(output?.data.byteLength).toBe(output?.data.buffer.byteLength);
    expectClose(output?.data as Float32Array, model.reference(input, 2));
    await session.release();
    await expect(session.run({ input: { type: 'float32', dims: [2, d], data: input } })).rejects.toMatchObject({ code: 'session-closed' });
  });

  it('prepack: false gives the same outputs (ORT skips repacking the weights)', async () => {
    const session = await createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'wasm', prepack: false });
    const { output } = await session.run({ input: { type: 'float32', dims: [2, d], data: input } });
    expectClose(output?.data as Float32Array, model.reference(input, 2));
    await session.release();
  });

  it('serialises concurrent runs and gives each its own result', async () => {
    const session = await createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'wasm' });
    const inputs = [1, 2, 3].map((k) => input.map((v) => v * k));
    const outs = await Promise.all(inputs.map((x) => session.run({ input: { type: 'float32', dims: [2, d], data: x } })));
    outs.forEach((out, i) => expectClose(out.output?.data as Float32Array, model.reference(inputs[i] as Float32Array, 2)));
    await session.release();
  });

  it('rejects wrong feeds with invalid-argument naming the inputs', async () => {
    const session = await createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'wasm' });
    const x = { type: 'float32' as const, dims: [2, d], data: input };
    await expect(session.run({ inptu: x })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/unknown input "inptu"; the model's inputs are: input/) });
    await expect(session.run({})).rejects.toMatchObject({ code: 'invalid-argument', message: 'missing input: input' });
    // Shape errors come from ORT itself and keep its message.
    await expect(session.run({ input: { type: 'float32', dims: [1, 3], data: new Float32Array(3) } })).rejects.toMatchObject({ code: 'backend-error' });
    await session.release();
  });

  it('explicit webgpu without an adapter is device-unavailable', async () => {
    await expect(createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'webgpu' })).rejects.toMatchObject({
      code: 'device-unavailable',
      message: expect.stringMatching(/navigator.gpu missing/),
    });
  });

  it('auto falls back to wasm when WebGPU session creation throws, and says why', async () => {
    // Capabilities claim an adapter, but ORT's Node build has no WebGPU
    // backend: creation really throws, and auto must recover on wasm.
    const capabilities = {
      runtime: 'node' as const,
      webgpu: {
        available: true as const,
        adapterInfo: { vendor: 'test', architecture: 'claimed', description: '' },
        features: [],
        limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 },
      },
      wasm: { threads: false, simd: true, jspi: false },
      hardwareConcurrency: 2,
    };
    const session = await createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'auto', capabilities });
    expect(session.device).toBe('wasm');
    expect(session.reason).toBe('wasm: webgpu session creation failed: no available backend found. ERR: [webgpu] backend not found.');
    const { output } = await session.run({ input: { type: 'float32', dims: [2, d], data: input } });
    expectClose(output?.data as Float32Array, model.reference(input, 2));
    await session.release();
    // Asked for explicitly, the same failure is an error, not a fallback.
    await expect(createOrtSession({ graph: model.graph, externalData: model.externalData, device: 'webgpu', capabilities })).rejects.toMatchObject({ code: 'backend-error' });
  });

  it('a missing external data file is a backend-error, a non-ONNX graph invalid-model', async () => {
    await expect(createOrtSession({ graph: model.graph, externalData: [], device: 'wasm' })).rejects.toMatchObject({ code: 'backend-error' });
    await expect(createOrtSession({ graph: new Uint8Array([0xff, 0xff, 0xff]), device: 'wasm' })).rejects.toMatchObject({ code: 'invalid-model' });
  });

  it('an aborted signal stops creation', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(createOrtSession({ graph: model.graph, externalData: model.externalData, signal: controller.signal })).rejects.toMatchObject({ code: 'aborted' });
  });
});
