/**
 * Node's device choice as a pure function of what was asked for and what the
 * installed onnxruntime-node offers, so the rules are tested on any machine
 * (this one has no GPU). src/backend/ort-node.ts detects the providers.
 */
import { TesseraError } from '../errors.ts';
import type { NativeDevice } from '../protocol/device.ts';

/** What the installed onnxruntime-node offers, as detected once per process. */
export interface NativeProviders {
  /** onnxruntime-node's version, e.g. `1.30.0`. */
  version: string;
  /** `linux/x64`, ... */
  platform: string;
  /** Providers this build can use now (their libraries are present). `cpu` is always here. */
  installed: NativeDevice[];
  /** Providers this build knows but cannot use here, with why (e.g. a library the install script did not download). */
  missing: { device: NativeDevice; why: string }[];
}

export interface NativeDeviceChoice {
  device: NativeDevice;
  /** For people: `cpu: onnxruntime-node 1.30.0, 2 threads`. */
  reason: string;
}

/** GPU providers first: `auto` takes the first one installed. */
const PREFERENCE: readonly NativeDevice[] = ['cuda', 'dml', 'coreml', 'cpu'];

/**
 * @example
 * chooseNativeDevice('auto', { version: '1.30.0', platform: 'linux/x64', installed: ['cpu'], missing: [] }, 2);
 * // { device: 'cpu', reason: 'cpu: onnxruntime-node 1.30.0, 2 threads' }
 */
export function chooseNativeDevice(requested: NativeDevice | 'auto', providers: NativeProviders, threads: number): NativeDeviceChoice {
  if (requested !== 'auto') {
    if (!providers.installed.includes(requested)) throw unavailable(requested, providers);
    return { device: requested, reason: nativeReason(requested, providers, threads, 'requested') };
  }
  const device = PREFERENCE.find((d) => providers.installed.includes(d)) ?? 'cpu';
  const skipped = providers.missing.filter((m) => PREFERENCE.indexOf(m.device) < PREFERENCE.indexOf(device));
  const note = skipped.length > 0 ? ` (${skipped.map((m) => `${m.device} not usable: ${m.why}`).join('; ')})` : '';
  return { device, reason: nativeReason(device, providers, threads, undefined) + note };
}

/**
 * The reason line for a session on `device`.
 *
 * @example
 * nativeReason('cuda', providers, 2, 'requested'); // 'cuda: onnxruntime-node 1.30.0 CUDA provider, requested'
 */
export function nativeReason(device: NativeDevice, providers: NativeProviders, threads: number, why: string | undefined): string {
  const base = device === 'cpu'
    ? `cpu: onnxruntime-node ${providers.version}, ${threads} thread${threads === 1 ? '' : 's'}`
    : `${device}: onnxruntime-node ${providers.version} ${device.toUpperCase()} provider`;
  return why ? `${base}, ${why}` : base;
}

/**
 * device-unavailable naming what is installed and what to do.
 *
 * @example
 * throw unavailable('cuda', providers);
 */
export function unavailable(requested: NativeDevice, providers: NativeProviders, cause?: unknown): TesseraError {
  const missing = providers.missing.find((m) => m.device === requested);
  const why = missing ? missing.why : `this onnxruntime-node ${providers.version} build has no ${requested} provider on ${providers.platform}`;
  const hint = requested === 'cuda' ? '; on a CUDA machine reinstall onnxruntime-node with its CUDA binaries (README: "GPU providers in Node")' : '';
  return new TesseraError('device-unavailable', `device '${requested}' is not available: ${why}. Installed: ${['wasm', ...providers.installed].join(', ')}; use one of those or 'auto'${hint}`, {
    details: { requested, installed: ['wasm', ...providers.installed], onnxruntimeNode: providers.version },
    ...(cause === undefined ? {} : { cause }),
  });
}
