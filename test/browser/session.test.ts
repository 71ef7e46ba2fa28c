/**
 * Capabilities and sessions in the page itself (no worker): what Chromium
 * with SwiftShader reports, and GPU runs from two sessions at once.
 */
import { describe, expect, inject, it } from 'vitest';
import { detectCapabilities } from '../../src/env.ts';
import { createOrtSession } from '../../src/backend/ort.ts';
import { loadPack } from '../../src/fetch/load-pack.ts';
import { graphFiles } from '../../src/engine/graph-files.ts';

const server = inject('rangeServerUrl');

describe('capabilities in Chromium', () => {
  it('reports a browser window with a SwiftShader WebGPU adapter, frozen', async () => {
    const caps = await detectCapabilities();
    expect(caps.runtime).toBe('browser-window');
    expect(caps.webgpu).toMatchObject({ available: true, adapterInfo: { vendor: 'google', architecture: 'swiftshader' } });
    if (!caps.webgpu.available) throw new Error('unreachable');
    expect(caps.webgpu.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(caps.webgpu.features).not.toContain('shader-f16');
    // Vitest's page is not cross-origin isolated: wasm runs one thread.
    // Chromium 156 has JSPI: the streamed weight path is available here.
    expect(caps.wasm).toEqual({ threads: false, simd: true, jspi: true });
    expect(Object.isFrozen(caps.webgpu)).toBe(true);
    expect(await detectCapabilities()).toBe(caps);
  });
});

describe('ORT sessions in the page', () => {
  it('fp16 models fall back to wasm for want of shader-f16; two GPU sessions run concurrently and correctly', async () => {
    const expected = (await (await fetch(`${server}/mlp/expected.json`)).json()) as {
      inputs: Record<string, { dims: number[]; data: number[] }>;
      outputs: Record<string, { dims: number[]; data: number[] }>;
    };
    const { manifest, files } = await loadPack(`${server}/mlp/manifest.json`, { cache: 'memory' });
    const { graph, externalData } = graphFiles(manifest, files);

    const fp16 = await createOrtSession({ graph, externalData, device: 'auto', requirements: { largestTensorBytes: 1024, usesFloat16: true } });
    expect(fp16).toMatchObject({ device: 'wasm', reason: 'wasm: model needs shader-f16 which the adapter lacks' });
    await fp16.release();
    await expect(createOrtSession({ graph, externalData, device: 'webgpu', requirements: { largestTensorBytes: 1024, usesFloat16: true } })).rejects.toMatchObject({
      code: 'device-unavailable',
    });

    const [a, b] = await Promise.all([0, 1].map(() => createOrtSession({ graph, externalData, device: 'webgpu' })));
    const [name, input] = Object.entries(expected.inputs)[0]!;
    const feeds = (scale: number) => ({ [name]: { type: 'float32' as const, dims: input.dims, data: Float32Array.from(input.data, (v) => v * scale) } });
    // Four runs in flight over two sessions: the GPU queue takes them in turn.
    const results = await Promise.all([a!.run(feeds(1)), b!.run(feeds(1)), a!.run(feeds(0)), b!.run(feeds(1))]);
    const want = expected.outputs.output!.data;
    for (const i of [0, 1, 3]) {
      const got = results[i]!.output!.data as Float32Array;
      want.forEach((w, j) => expect(Math.abs((got[j] as number) - w)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(w))));
    }
    // Zero input gives a different answer (bias path only): runs did not mix results.
    expect(Math.abs((results[2]!.output!.data[0] as number) - (want[0] as number))).toBeGreaterThan(1e-6);
    await Promise.all([a!.release(), b!.release()]);
  });
});
