/**
 * What this runtime can do: where we run, whether WebGPU has an adapter (and
 * what it offers), whether wasm has threads and SIMD. Detected once, on the
 * first call (never at import: asking for a GPU adapter is slow and may touch
 * the driver), and frozen so nobody mutates the shared answer.
 */
import { TesseraError } from './errors.ts';

export type Runtime = 'browser-window' | 'web-worker' | 'node' | 'workerd';

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
}

export interface WebGpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export type WebGpuCapabilities =
  | { available: true; adapterInfo: AdapterInfo; features: string[]; limits: WebGpuLimits }
  | { available: false; reason: string };

export interface Capabilities {
  runtime: Runtime;
  webgpu: WebGpuCapabilities;
  /**
   * `jspi`: WebAssembly JavaScript Promise Integration (`WebAssembly.Suspending`),
   * which onnxruntime-web's JSPI build needs to read external data from Blobs.
   */
  wasm: { threads: boolean; simd: boolean; jspi: boolean };
  hardwareConcurrency: number;
}

/**
 * The slice of WebGPU that detection reads. Declared here because TypeScript's
 * DOM lib has no WebGPU types, and so tests can hand in a fake navigator.
 */
export interface GpuAdapterLike {
  features: Iterable<string>;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  info?: Partial<AdapterInfo>;
  requestAdapterInfo?: () => Promise<Partial<AdapterInfo>>;
}

export interface NavigatorLike {
  hardwareConcurrency?: number;
  userAgent?: string;
  gpu?: { requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null> };
}

export interface DetectOptions {
  /** Defaults to `globalThis.navigator`. */
  navigator?: NavigatorLike;
  /** Defaults to `globalThis`; read for `crossOriginIsolated`, `SharedArrayBuffer`, `WorkerGlobalScope`, `process`. */
  globals?: Record<string, unknown>;
  /** How long `requestAdapter` may take before WebGPU counts as unavailable. Default 10 s. */
  adapterTimeoutMs?: number;
}

let detected: Promise<Capabilities> | undefined;

/**
 * Detects capabilities. Without options the result is computed once and
 * shared; with injected options (tests) it is computed fresh each call.
 *
 * @example
 * const caps = await detectCapabilities();
 * if (caps.webgpu.available) console.log(caps.webgpu.adapterInfo.vendor);
 * else console.log('no WebGPU:', caps.webgpu.reason);
 */
export function detectCapabilities(options?: DetectOptions): Promise<Capabilities> {
  if (options) return detect(options);
  detected ??= detect({}).catch((err: unknown) => {
    detected = undefined; // let a later call try again
    throw err;
  });
  return detected;
}

async function detect(options: DetectOptions): Promise<Capabilities> {
  const g = options.globals ?? (globalThis as unknown as Record<string, unknown>);
  const nav = options.navigator ?? (g.navigator as NavigatorLike | undefined);
  const runtime = detectRuntime(g, nav);
  const webgpu = await detectWebGpu(nav, options.adapterTimeoutMs ?? 10_000);
  const caps: Capabilities = {
    runtime,
    webgpu,
    wasm: {
      // Threads need SharedArrayBuffer, which browsers give only to
      // cross-origin-isolated pages (COOP + COEP headers).
      threads: g.crossOriginIsolated === true && typeof g.SharedArrayBuffer === 'function',
      simd: detectSimd(),
      jspi: typeof (g.WebAssembly as { Suspending?: unknown } | undefined)?.Suspending === 'function',
    },
    hardwareConcurrency: nav?.hardwareConcurrency ?? 1,
  };
  return deepFreeze(caps);
}

function detectRuntime(g: Record<string, unknown>, nav: NavigatorLike | undefined): Runtime {
  // workerd sets this exact user agent; check it first because workerd also
  // has `self` and (with nodejs_compat) `process`.
  if (nav?.userAgent === 'Cloudflare-Workers') return 'workerd';
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (typeof proc?.versions?.node === 'string' && typeof g.window === 'undefined') return 'node';
  const workerScope = g.WorkerGlobalScope as (abstract new () => unknown) | undefined;
  if (typeof workerScope === 'function' && g.self instanceof workerScope) return 'web-worker';
  return 'browser-window';
}

async function detectWebGpu(nav: NavigatorLike | undefined, timeoutMs: number): Promise<WebGpuCapabilities> {
  if (!nav?.gpu) return { available: false, reason: 'navigator.gpu missing' };
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await withTimeout(nav.gpu.requestAdapter(), timeoutMs);
  } catch (err) {
    return { available: false, reason: `requestAdapter failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!adapter) return { available: false, reason: 'no WebGPU adapter (requestAdapter returned null)' };
  // `adapter.info` is the current API (Chrome 127+); `requestAdapterInfo()` the older one.
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.().catch(() => undefined)) ?? {};
  return {
    available: true,
    adapterInfo: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description ?? '',
    },
    features: [...adapter.features].sort(),
    limits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    },
  };
}

/** A minimal module using one v128 instruction: it validates only where wasm SIMD exists. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

function detectSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TesseraError('timeout', `timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
