/**
 * Device choice as a pure function of what was asked for, what the runtime
 * offers and what the model needs, so the rules are tested without a GPU.
 */
import { TesseraError } from '../errors.ts';
import type { Capabilities } from '../env.ts';
import type { ModelRequirements } from './model-requirements.ts';

import { isNativeDevice, type Device, type DeviceRequest } from '../protocol/device.ts';

export type { Device, DeviceRequest };

export interface DeviceChoice {
  device: Device;
  /** Why, for people: `webgpu: adapter google/swiftshader`, `wasm: navigator.gpu missing`. */
  reason: string;
}

/**
 * @example
 * chooseDevice('auto', caps, { largestTensorBytes: 4096, usesFloat16: true });
 * // { device: 'wasm', reason: 'wasm: model needs shader-f16 which the adapter lacks' }
 */
export function chooseDevice(
  requested: DeviceRequest,
  capabilities: Capabilities,
  requirements: ModelRequirements,
): DeviceChoice {
  if (requested === 'wasm') return { device: 'wasm', reason: 'wasm: requested' };
  if (isNativeDevice(requested)) {
    // onnxruntime-node's providers; src/backend/ort-node.ts chooses among them in Node.
    throw new TesseraError('device-unavailable', `device '${requested}' is an onnxruntime-node provider, which runs only in Node; here use 'auto', 'webgpu' or 'wasm'`, {
      details: { requested, available: ['webgpu', 'wasm'] },
    });
  }
  const misfit = webGpuMisfit(capabilities, requirements);
  if (misfit === undefined) {
    const gpu = capabilities.webgpu;
    const adapter = gpu.available ? `${gpu.adapterInfo.vendor}/${gpu.adapterInfo.architecture}` : '?';
    return { device: 'webgpu', reason: `webgpu: adapter ${adapter}` };
  }
  if (requested === 'webgpu') {
    throw new TesseraError('device-unavailable', `WebGPU was requested but ${misfit}; use device 'auto' or 'wasm'`, {
      details: { reason: misfit },
    });
  }
  return { device: 'wasm', reason: `wasm: ${misfit}` };
}

/** Why this adapter cannot run this model on WebGPU, or undefined when it can. */
function webGpuMisfit(capabilities: Capabilities, requirements: ModelRequirements): string | undefined {
  const gpu = capabilities.webgpu;
  if (!gpu.available) return gpu.reason;
  if (requirements.usesFloat16 && !gpu.features.includes('shader-f16')) {
    return 'model needs shader-f16 which the adapter lacks';
  }
  // Each initializer is one GPU buffer bound whole to a shader.
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (requirements.largestTensorBytes > limit) {
    return `model's largest tensor (${requirements.largestTensorBytes} bytes) exceeds the adapter's storage buffer limit (${limit} bytes)`;
  }
  return undefined;
}
