/**
 * Messages between a page and the HF pipeline worker (src/transport/hf-worker.ts). Kept
 * apart from the engine worker's protocol: a transformers.js pipeline takes
 * texts and gives tensors, not tensor maps, and its worker loads
 * @huggingface/transformers, which the engine worker never should.
 * Everything that arrives is validated before it is trusted.
 */
import { NATIVE_DEVICES, type DeviceRequest, type NativeDevice, type WeightPath, type WeightsRequest } from './device.ts';
import { asMessage, badRequest as bad, DEVICE_REQUESTS, requireErrorData, type WorkerCacheSpec } from './worker-messages.ts';
import type { ErrorData } from '../errors.ts';

/** Where a transformers.js pipeline runs (`cpu`, `cuda`, ...: onnxruntime-node in Node). */
export type HfDevice = 'webgpu' | 'wasm' | NativeDevice;

/** Counters for one pipeline's files. */
export interface HfLoadStats {
  bytesFromNetwork: number;
  bytesFromCache: number;
  chunksFetched: number;
  files: string[];
}

export type HfSource =
  /** `manifest.json` of a pack made with `tessera pack <hf-folder>`. */
  | { type: 'pack'; url: string }
  /** A repository folder URL ending in `/resolve/<rev>/`. */
  | { type: 'hf-repo'; url: string }
  /** A hub-like host: files at `<host>/<modelId>/resolve/<revision>/`. */
  | { type: 'hf-hub'; host: string; revision?: string };

/** The cache, as data (a ModelCache object cannot cross into a worker); `fs` is for Node, never a page. */
export type HfWorkerCacheSpec = Exclude<WorkerCacheSpec, { type: 'fs' }>;

/** The pipeline options that can cross: no functions, no signal, no cache object. */
export interface HfWorkerLoadOptions {
  source: string | HfSource;
  device: DeviceRequest;
  dtype?: string;
  cache: HfWorkerCacheSpec;
  concurrency?: number;
  chunkSize?: number;
  prepack?: boolean;
  wasmPaths?: string | { wasm: string; mjs: string };
  weights?: WeightsRequest;
}

export interface HfWorkerPipelineInfo {
  pipeline: number;
  device: HfDevice;
  reason: string;
  stats: HfLoadStats;
  weights: WeightPath;
  weightsReason: string;
}

/** Page -> worker. */
export type HfWorkerRequest =
  | { type: 'load'; id: number; task: string; modelId: string; options: HfWorkerLoadOptions; progress: boolean }
  | { type: 'call'; id: number; pipeline: number; input: string | string[]; options: Record<string, unknown> }
  | { type: 'count-tokens'; id: number; pipeline: number; texts: string[] }
  | { type: 'dispose'; id: number; pipeline: number }
  /** Abort the request `id` (a load). */
  | { type: 'cancel'; id: number };

/** Worker -> page. */
export type HfWorkerResponse =
  | { type: 'progress'; id: number; bytesFromNetwork: number; file: string }
  | { type: 'loaded'; id: number; info: HfWorkerPipelineInfo }
  /** `data` is transferred, not copied. */
  | { type: 'output'; id: number; dims: number[]; data: Float32Array }
  | { type: 'tokens'; id: number; counts: number[] }
  | { type: 'disposed'; id: number }
  | { type: 'error'; id: number; error: ErrorData };

const CACHES: ReadonlySet<string> = new Set(['default', 'indexeddb', 'memory']);
const HF_DEVICES: ReadonlySet<string> = new Set<HfDevice>(['webgpu', 'wasm', ...NATIVE_DEVICES]);

/**
 * Builds a fresh request from the fields it checked (never casts what arrived).
 *
 * @example
 * self.addEventListener('message', (e) => handle(parseHfWorkerRequest(e.data)));
 */
export function parseHfWorkerRequest(data: unknown): HfWorkerRequest {
  const msg = asMessage(data, 'request', 'HF worker');
  const id = msg.id as number;
  const type = msg.type as HfWorkerRequest['type'];
  switch (type) {
    case 'load': {
      if (typeof msg.task !== 'string' || typeof msg.modelId !== 'string') throw bad('load needs string task and modelId');
      return { type, id, task: msg.task, modelId: msg.modelId, options: loadOptions(msg.options), progress: msg.progress === true };
    }
    case 'call': {
      const pipeline = requirePipeline(msg);
      const input = msg.input;
      if (typeof input !== 'string' && !(Array.isArray(input) && input.every((t) => typeof t === 'string'))) throw bad('call.input must be a string or an array of strings');
      if (typeof msg.options !== 'object' || msg.options === null || Array.isArray(msg.options)) throw bad('call.options must be an object');
      // transformers.js call options (pooling, normalize, ...) are its own to check; copied, never shared.
      return { type, id, pipeline, input: typeof input === 'string' ? input : [...input], options: { ...(msg.options as Record<string, unknown>) } };
    }
    case 'count-tokens': {
      const pipeline = requirePipeline(msg);
      if (!Array.isArray(msg.texts) || !msg.texts.every((t) => typeof t === 'string')) throw bad('count-tokens.texts must be an array of strings');
      return { type, id, pipeline, texts: [...(msg.texts as string[])] };
    }
    case 'dispose':
      return { type, id, pipeline: requirePipeline(msg) };
    case 'cancel':
      return { type, id };
    default: {
      const unknown: never = type;
      throw bad(`unknown request type ${JSON.stringify(unknown)}`);
    }
  }
}

function loadOptions(value: unknown): HfWorkerLoadOptions {
  const o = value as Partial<Record<keyof HfWorkerLoadOptions, unknown>> | null | undefined;
  if (typeof o !== 'object' || o === null) throw bad('load.options must be an object');
  if (typeof o.device !== 'string' || !DEVICE_REQUESTS.has(o.device)) throw bad(`load.options.device must be one of ${[...DEVICE_REQUESTS].join(', ')}, got ${JSON.stringify(o.device)}`);
  const cache = o.cache as { type?: unknown; prefix?: unknown } | undefined;
  if (typeof cache?.type !== 'string' || !CACHES.has(cache.type)) throw bad("load.options.cache must be { type: 'default' | 'indexeddb' | 'memory' }");
  if (cache.prefix !== undefined && typeof cache.prefix !== 'string') throw bad('load.options.cache.prefix must be a string');
  for (const key of ['concurrency', 'chunkSize'] as const) {
    if (o[key] !== undefined && !(Number.isInteger(o[key]) && (o[key] as number) > 0)) throw bad(`load.options.${key} must be a positive integer`);
  }
  if (o.dtype !== undefined && typeof o.dtype !== 'string') throw bad('load.options.dtype must be a string');
  if (o.prepack !== undefined && typeof o.prepack !== 'boolean') throw bad('load.options.prepack must be a boolean');
  if (o.weights !== undefined && o.weights !== 'auto' && o.weights !== 'copy') throw bad(`load.options.weights must be 'auto' or 'copy', got ${JSON.stringify(o.weights)}`);
  return {
    source: hfSource(o.source),
    device: o.device as DeviceRequest,
    cache: cache.type === 'indexeddb' ? (cache.prefix === undefined ? { type: 'indexeddb' } : { type: 'indexeddb', prefix: cache.prefix as string }) : { type: cache.type as 'default' | 'memory' },
    ...(o.dtype === undefined ? {} : { dtype: o.dtype as string }),
    ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency as number }),
    ...(o.chunkSize === undefined ? {} : { chunkSize: o.chunkSize as number }),
    ...(o.prepack === undefined ? {} : { prepack: o.prepack as boolean }),
    ...(o.wasmPaths === undefined ? {} : { wasmPaths: wasmPaths(o.wasmPaths) }),
    ...(o.weights === undefined ? {} : { weights: o.weights as WeightsRequest }),
  };
}

function hfSource(value: unknown): string | HfSource {
  if (typeof value === 'string') return value;
  const s = value as { type?: unknown; url?: unknown; host?: unknown; revision?: unknown } | null | undefined;
  if ((s?.type === 'pack' || s?.type === 'hf-repo') && typeof s.url === 'string') return { type: s.type, url: s.url };
  if (s?.type === 'hf-hub' && typeof s.host === 'string' && (s.revision === undefined || typeof s.revision === 'string')) {
    return s.revision === undefined ? { type: 'hf-hub', host: s.host } : { type: 'hf-hub', host: s.host, revision: s.revision as string };
  }
  throw bad('load.options.source must be a URL or an HfSource ({ type: pack | hf-repo, url } or { type: hf-hub, host, revision? })');
}

function wasmPaths(value: unknown): string | { wasm: string; mjs: string } {
  if (typeof value === 'string') return value;
  const w = value as { wasm?: unknown; mjs?: unknown } | null;
  if (typeof w?.wasm === 'string' && typeof w.mjs === 'string') return { wasm: w.wasm, mjs: w.mjs };
  throw bad('load.options.wasmPaths must be a URL prefix or { wasm, mjs }');
}

/**
 * @example
 * worker.addEventListener('message', (e) => settle(parseHfWorkerResponse(e.data)));
 */
export function parseHfWorkerResponse(data: unknown): HfWorkerResponse {
  const msg = asMessage(data, 'response', 'HF worker');
  const id = msg.id as number;
  const type = msg.type as HfWorkerResponse['type'];
  switch (type) {
    case 'progress':
      if (typeof msg.bytesFromNetwork !== 'number' || typeof msg.file !== 'string') throw bad('progress needs bytesFromNetwork and file');
      return { type, id, bytesFromNetwork: msg.bytesFromNetwork, file: msg.file };
    case 'loaded': {
      const info = msg.info as Partial<Record<keyof HfWorkerPipelineInfo, unknown>> | undefined;
      if (
        !Number.isInteger(info?.pipeline) ||
        typeof info?.device !== 'string' ||
        !HF_DEVICES.has(info.device) ||
        typeof info.reason !== 'string' ||
        (info.weights !== 'streamed' && info.weights !== 'copied') ||
        typeof info.weightsReason !== 'string'
      ) {
        throw bad('loaded.info must be { pipeline, device, reason, stats, weights, weightsReason }');
      }
      return {
        type,
        id,
        info: { pipeline: info.pipeline as number, device: info.device as HfDevice, reason: info.reason, stats: loadStats(info.stats), weights: info.weights, weightsReason: info.weightsReason },
      };
    }
    case 'output':
      if (!Array.isArray(msg.dims) || !msg.dims.every((d) => Number.isInteger(d) && d >= 0) || !(msg.data instanceof Float32Array)) throw bad('output must be { dims, data: Float32Array }');
      return { type, id, dims: [...(msg.dims as number[])], data: msg.data };
    case 'tokens':
      if (!Array.isArray(msg.counts) || !msg.counts.every((n) => Number.isInteger(n))) throw bad('tokens.counts must be an array of integers');
      return { type, id, counts: [...(msg.counts as number[])] };
    case 'disposed':
      return { type, id };
    case 'error':
      return { type, id, error: requireErrorData(msg) };
    default: {
      const unknown: never = type;
      throw bad(`unknown response type ${JSON.stringify(unknown)}`);
    }
  }
}

function loadStats(value: unknown): HfLoadStats {
  const s = value as Partial<Record<keyof HfLoadStats, unknown>> | null | undefined;
  if (typeof s !== 'object' || s === null) throw bad('loaded.info.stats must be an object');
  for (const key of ['bytesFromNetwork', 'bytesFromCache', 'chunksFetched'] as const) {
    if (typeof s[key] !== 'number') throw bad(`loaded.info.stats.${key} must be a number`);
  }
  if (!Array.isArray(s.files) || !s.files.every((f) => typeof f === 'string')) throw bad('loaded.info.stats.files must be an array of paths');
  return { bytesFromNetwork: s.bytesFromNetwork as number, bytesFromCache: s.bytesFromCache as number, chunksFetched: s.chunksFetched as number, files: [...(s.files as string[])] };
}

function requirePipeline(msg: Record<string, unknown>): number {
  if (!Number.isInteger(msg.pipeline)) throw bad(`${String(msg.type)}.pipeline must be the integer id from 'loaded'`);
  return msg.pipeline as number;
}
