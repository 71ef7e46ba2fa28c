/**
 * Device names and value descriptions as plain data: shared by the backend
 * (which chooses), the engine (which reports) and the messages that carry them.
 */

/** What a caller asks for. `auto`: WebGPU when an adapter fits the model, else wasm. */
export type DeviceRequest = 'webgpu' | 'wasm' | 'auto';

/** Where a session actually runs. */
export type Device = 'webgpu' | 'wasm';

/** A model input or output, serialisable. */
export interface ValueInfo {
  name: string;
  /** Element type, absent for non-tensor values (sequences, maps). */
  type?: string;
  /** Dimensions: numbers, or strings for symbolic dims such as `batch`. */
  shape?: (number | string)[];
}
