import { describe, expect, it } from 'vitest';
import { chooseNativeDevice, type NativeProviders } from './choose-native-device.ts';

const cpuOnly: NativeProviders = {
  version: '1.30.0', platform: 'linux/x64', installed: ['cpu'],
  missing: [{ device: 'cuda', why: 'libonnxruntime_providers_cuda.so is not installed' }],
};
const withCuda: NativeProviders = { ...cpuOnly, installed: ['cpu', 'cuda'], missing: [] };

describe('chooseNativeDevice', () => {
  it('auto takes a GPU provider when one is installed', () => {
    expect(chooseNativeDevice('auto', withCuda, 2)).toEqual({ device: 'cuda', reason: 'cuda: onnxruntime-node 1.30.0 CUDA provider' });
  });

  it('auto falls back to cpu with the thread count and what it skipped', () => {
    expect(chooseNativeDevice('auto', cpuOnly, 1)).toEqual({
      device: 'cpu',
      reason: 'cpu: onnxruntime-node 1.30.0, 1 thread (cuda not usable: libonnxruntime_providers_cuda.so is not installed)',
    });
  });

  it('an explicit request is honoured or refused with what is installed', () => {
    expect(chooseNativeDevice('cpu', withCuda, 4)).toEqual({ device: 'cpu', reason: 'cpu: onnxruntime-node 1.30.0, 4 threads, requested' });
    expect(() => chooseNativeDevice('cuda', cpuOnly, 2)).toThrow(expect.objectContaining({
      code: 'device-unavailable',
      message: expect.stringMatching(/^device 'cuda' is not available: libonnxruntime_providers_cuda.so is not installed\. Installed: wasm, cpu; .*README/),
    }));
    expect(() => chooseNativeDevice('coreml', cpuOnly, 2)).toThrow(expect.objectContaining({
      code: 'device-unavailable', message: expect.stringMatching(/no coreml provider on linux\/x64/),
    }));
  });
});
