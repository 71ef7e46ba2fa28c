/**
 * `--device` and `--threads` as `tessera serve`, `tessera ocr` and `npm start` take them.
 */
import { TesseraError } from '../errors.ts';
import { DEVICE_REQUEST_NAMES, type DeviceRequest } from '../protocol/device.ts';

export const DEVICE_FLAG_HELP = "auto (onnxruntime-node's best installed provider), cpu, cuda, dml, coreml, or wasm (onnxruntime-web)";

/**
 * @example
 * parseDeviceFlag('cpu'); // 'cpu'
 * parseDeviceFlag('gpu'); // throws invalid-argument listing the devices
 */
export function parseDeviceFlag(value: string): DeviceRequest {
  if ((DEVICE_REQUEST_NAMES as readonly string[]).includes(value)) return value as DeviceRequest;
  throw new TesseraError('invalid-argument', `--device must be one of ${DEVICE_REQUEST_NAMES.join(', ')}, got "${value}"`);
}

/** @example parseThreadsFlag('2'); // 2 */
export function parseThreadsFlag(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new TesseraError('invalid-argument', `--threads must be a positive integer, got "${value}"`);
  return n;
}
