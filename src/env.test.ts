import { describe, expect, it } from 'vitest';
import { detectCapabilities, type GpuAdapterLike, type NavigatorLike } from './env.ts';

const swiftshader: GpuAdapterLike = {
  features: new Set(['timestamp-query', 'float32-filterable']),
  limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 },
  info: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader device' },
};

const gpuNavigator = (adapter: GpuAdapterLike | null | Promise<never>): NavigatorLike => ({
  hardwareConcurrency: 8,
  gpu: { requestAdapter: () => (adapter instanceof Promise ? adapter : Promise.resolve(adapter)) },
});

describe('detectCapabilities', () => {
  it('reports the adapter, its sorted features and limits', async () => {
    const caps = await detectCapabilities({ navigator: gpuNavigator(swiftshader), globals: {} });
    expect(caps.webgpu).toEqual({
      available: true,
      adapterInfo: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader device' },
      features: ['float32-filterable', 'timestamp-query'],
      limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 },
    });
    expect(caps.hardwareConcurrency).toBe(8);
  });

  it('falls back to requestAdapterInfo() on older browsers', async () => {
    const old: GpuAdapterLike = { ...swiftshader, info: undefined, requestAdapterInfo: async () => ({ vendor: 'intel', architecture: 'gen-12lp' }) };
    const caps = await detectCapabilities({ navigator: gpuNavigator(old), globals: {} });
    expect(caps.webgpu.available && caps.webgpu.adapterInfo).toEqual({ vendor: 'intel', architecture: 'gen-12lp', description: '' });
  });

  it('says why WebGPU is unavailable', async () => {
    const none = await detectCapabilities({ navigator: {}, globals: {} });
    expect(none.webgpu).toEqual({ available: false, reason: 'navigator.gpu missing' });
    const nullAdapter = await detectCapabilities({ navigator: gpuNavigator(null), globals: {} });
    expect(nullAdapter.webgpu).toEqual({ available: false, reason: 'no WebGPU adapter (requestAdapter returned null)' });
    const hung = await detectCapabilities({ navigator: gpuNavigator(new Promise<never>(() => {})), globals: {}, adapterTimeoutMs: 20 });
    expect(hung.webgpu).toEqual({ available: false, reason: 'requestAdapter failed: timed out after 20 ms' });
  });

  it('detects the runtime from injected globals', async () => {
    class WorkerGlobalScope {}
    const cases: [Record<string, unknown>, NavigatorLike, string][] = [
      [{ process: { versions: { node: '22.0.0' } } }, {}, 'node'],
      [{ WorkerGlobalScope, self: new WorkerGlobalScope() }, {}, 'web-worker'],
      [{ window: {}, self: {} }, {}, 'browser-window'],
      [{ process: { versions: { node: '22.0.0' } } }, { userAgent: 'Cloudflare-Workers' }, 'workerd'],
    ];
    for (const [globals, navigator, runtime] of cases) {
      expect((await detectCapabilities({ globals, navigator })).runtime).toBe(runtime);
    }
  });

  it('has wasm threads only when cross-origin isolated with SharedArrayBuffer', async () => {
    const isolated = await detectCapabilities({ navigator: {}, globals: { crossOriginIsolated: true, SharedArrayBuffer } });
    expect(isolated.wasm.threads).toBe(true);
    const open = await detectCapabilities({ navigator: {}, globals: { crossOriginIsolated: false, SharedArrayBuffer } });
    expect(open.wasm.threads).toBe(false);
    expect(open.wasm.simd).toBe(true); // Node 22's V8 has wasm SIMD
  });

  it('has JSPI only where WebAssembly.Suspending is a function', async () => {
    const withJspi = await detectCapabilities({ navigator: {}, globals: { WebAssembly: { Suspending: function Suspending() {} } } });
    expect(withJspi.wasm.jspi).toBe(true);
    expect((await detectCapabilities({ navigator: {}, globals: { WebAssembly: {} } })).wasm.jspi).toBe(false);
    expect((await detectCapabilities({ navigator: {}, globals: {} })).wasm.jspi).toBe(false);
  });

  it('computes the real answer once and freezes it', async () => {
    const a = await detectCapabilities();
    const b = await detectCapabilities();
    expect(a).toBe(b);
    expect(a.runtime).toBe('node');
    expect(a.webgpu.available).toBe(false);
    expect(Object.isFrozen(a) && Object.isFrozen(a.wasm) && Object.isFrozen(a.webgpu)).toBe(true);
    expect(() => {
      (a.wasm as { simd: boolean }).simd = false;
    }).toThrow(TypeError);
  });
});
