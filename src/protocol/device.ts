/**
 * Device names and value descriptions as plain data: shared by the backend
 * (which chooses), the engine (which reports) and the messages that carry them.
 */

/**
 * Where a session can run. Browsers: `webgpu`, `wasm`. Node adds
 * onnxruntime-node's execution providers: `cpu` (native, always there) and
 * `cuda` / `dml` / `coreml` where the installed build offers them; `wasm`
 * stays available in Node too (onnxruntime-web in-process).
 */
export type Device = 'webgpu' | 'wasm' | NativeDevice;

/** onnxruntime-node's execution providers that Tessera offers (Node only). */
export type NativeDevice = 'cpu' | 'cuda' | 'dml' | 'coreml';

/**
 * What a caller asks for. `auto`: in browsers WebGPU when an adapter fits the
 * model, else wasm; in Node the best installed native provider (a GPU one,
 * else `cpu`).
 */
export type DeviceRequest = Device | 'auto';

/** The native devices, for checking requests. */
export const NATIVE_DEVICES: readonly NativeDevice[] = ['cpu', 'cuda', 'dml', 'coreml'];

/** Every DeviceRequest value, for checking messages and flags. */
export const DEVICE_REQUEST_NAMES: readonly DeviceRequest[] = ['auto', 'webgpu', 'wasm', ...NATIVE_DEVICES];

/**
 * @example
 * isNativeDevice('cuda'); // true
 * isNativeDevice('wasm'); // false
 */
export function isNativeDevice(device: string): device is NativeDevice {
  return (NATIVE_DEVICES as readonly string[]).includes(device);
}

/**
 * How a model's weights reached ONNX Runtime. `streamed`: each external-data
 * file went in as a Blob composed of the cached chunk Blobs, and ORT read it
 * initializer by initializer (onnxruntime-web's JSPI build). `copied`: the
 * files were assembled into bytes in JS and copied in (every other path).
 */
export type WeightPath = 'streamed' | 'copied';

/** What a caller asks for. `auto`: streamed where the runtime allows it. `copy`: always the copying path. */
export type WeightsRequest = 'auto' | 'copy';

/** A model input or output, serialisable. */
export interface ValueInfo {
  name: string;
  /** Element type, absent for non-tensor values (sequences, maps). */
  type?: string;
  /** Dimensions: numbers, or strings for symbolic dims such as `batch`. */
  shape?: (number | string)[];
}
