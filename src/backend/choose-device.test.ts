import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../env.ts';
import { chooseDevice } from './choose-device.ts';

const withGpu = (features: string[] = [], maxStorageBufferBindingSize = 128 * 2 ** 20): Capabilities => ({
  runtime: 'browser-window',
  webgpu: {
    available: true,
    adapterInfo: { vendor: 'google', architecture: 'swiftshader', description: '' },
    features,
    limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize },
  },
  wasm: { threads: false, simd: true, jspi: false },
  hardwareConcurrency: 4,
});
const noGpu: Capabilities = { ...withGpu(), webgpu: { available: false, reason: 'navigator.gpu missing' } };
const small = { largestTensorBytes: 4096, usesFloat16: false };

describe('chooseDevice', () => {
  it('refuses onnxruntime-node providers outside Node with device-unavailable', () => {
    expect(() => chooseDevice('cuda', withGpu(), small)).toThrow(expect.objectContaining({ code: 'device-unavailable', message: expect.stringMatching(/'cuda' is an onnxruntime-node provider.*use 'auto', 'webgpu' or 'wasm'/) }));
  });

  it('auto takes WebGPU when the adapter fits and names it', () => {
    expect(chooseDevice('auto', withGpu(), small)).toEqual({ device: 'webgpu', reason: 'webgpu: adapter google/swiftshader' });
  });

  it('auto falls back to wasm and says why', () => {
    expect(chooseDevice('auto', noGpu, small)).toEqual({ device: 'wasm', reason: 'wasm: navigator.gpu missing' });
    expect(chooseDevice('auto', withGpu(), { ...small, usesFloat16: true })).toEqual({
      device: 'wasm',
      reason: 'wasm: model needs shader-f16 which the adapter lacks',
    });
    const big = chooseDevice('auto', withGpu([], 1024), small);
    expect(big.device).toBe('wasm');
    expect(big.reason).toMatch(/largest tensor \(4096 bytes\) exceeds the adapter's storage buffer limit \(1024 bytes\)/);
  });

  it('fp16 models take WebGPU when the adapter has shader-f16', () => {
    expect(chooseDevice('auto', withGpu(['shader-f16']), { ...small, usesFloat16: true }).device).toBe('webgpu');
  });

  it('explicit webgpu without a fitting adapter is device-unavailable', () => {
    expect(() => chooseDevice('webgpu', noGpu, small)).toThrow(expect.objectContaining({ code: 'device-unavailable' }));
    expect(() => chooseDevice('webgpu', withGpu(), { ...small, usesFloat16: true })).toThrow(/shader-f16/);
  });

  it('explicit wasm is always wasm', () => {
    expect(chooseDevice('wasm', withGpu(), small)).toEqual({ device: 'wasm', reason: 'wasm: requested' });
  });
});
