/**
 * Messages between a page and the HF pipeline worker (src/transport/hf-worker.ts). Kept
 * apart from the engine worker's protocol: a transformers.js pipeline takes
 * texts and gives tensors, not tensor maps, and its worker loads
 * @huggingface/transformers, which the engine worker never should.
 * Everything that arrives is validated before it is trusted.
 */
import type { DeviceRequest, NativeDevice } from './device.ts';
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
}

export interface HfWorkerPipelineInfo {
  pipeline: number;
  device: HfDevice;
  reason: string;
  stats: HfLoadStats;
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

const CACHES = new Set(['default', 'indexeddb', 'memory']);

/**
 * @example
 * self.addEventListener('message', (e) => handle(parseHfWorkerRequest(e.data)));
 */
export function parseHfWorkerRequest(data: unknown): HfWorkerRequest {
  const msg = asMessage(data, 'request', 'HF worker');
  const type = msg.type as HfWorkerRequest['type'];
  switch (type) {
    case 'load': {
      if (typeof msg.task !== 'string' || typeof msg.modelId !== 'string') bad('load needs string task and modelId');
      const o = msg.options as Partial<HfWorkerLoadOptions> | undefined;
      if (typeof o !== 'object' || o === null) bad('load.options must be an object');
      if (typeof o.source !== 'string' && (typeof o.source !== 'object' || o.source === null)) bad('load.options.source must be a URL or an HfSource');
      if (typeof o.device !== 'string' || !DEVICE_REQUESTS.has(o.device)) bad(`load.options.device must be one of ${[...DEVICE_REQUESTS].join(', ')}, got ${JSON.stringify(o.device)}`);
      const cache = o.cache as { type?: unknown } | undefined;
      if (typeof cache?.type !== 'string' || !CACHES.has(cache.type)) bad("load.options.cache must be { type: 'default' | 'indexeddb' | 'memory' }");
      return msg as unknown as HfWorkerRequest;
    }
    case 'call': {
      requirePipeline(msg);
      const input = msg.input;
      if (typeof input !== 'string' && !(Array.isArray(input) && input.every((t) => typeof t === 'string'))) bad('call.input must be a string or an array of strings');
      if (typeof msg.options !== 'object' || msg.options === null) bad('call.options must be an object');
      return msg as unknown as HfWorkerRequest;
    }
    case 'count-tokens':
      requirePipeline(msg);
      if (!Array.isArray(msg.texts) || !msg.texts.every((t) => typeof t === 'string')) bad('count-tokens.texts must be an array of strings');
      return msg as unknown as HfWorkerRequest;
    case 'dispose':
      requirePipeline(msg);
      return msg as unknown as HfWorkerRequest;
    case 'cancel':
      return msg as unknown as HfWorkerRequest;
    default: {
      const unknown: never = type;
      throw bad(`unknown request type ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * @example
 * worker.addEventListener('message', (e) => settle(parseHfWorkerResponse(e.data)));
 */
export function parseHfWorkerResponse(data: unknown): HfWorkerResponse {
  const msg = asMessage(data, 'response', 'HF worker');
  const type = msg.type as HfWorkerResponse['type'];
  switch (type) {
    case 'progress':
      if (typeof msg.bytesFromNetwork !== 'number' || typeof msg.file !== 'string') bad('progress needs bytesFromNetwork and file');
      return msg as unknown as HfWorkerResponse;
    case 'loaded': {
      const info = msg.info as Partial<HfWorkerPipelineInfo> | undefined;
      if (!Number.isInteger(info?.pipeline) || typeof info?.device !== 'string' || typeof info.stats !== 'object') bad('loaded.info must be { pipeline, device, reason, stats }');
      return msg as unknown as HfWorkerResponse;
    }
    case 'output':
      if (!Array.isArray(msg.dims) || !(msg.data instanceof Float32Array)) bad('output must be { dims, data: Float32Array }');
      return msg as unknown as HfWorkerResponse;
    case 'tokens':
      if (!Array.isArray(msg.counts)) bad('tokens.counts must be an array');
      return msg as unknown as HfWorkerResponse;
    case 'disposed':
      return msg as unknown as HfWorkerResponse;
    case 'error':
      requireErrorData(msg);
      return msg as unknown as HfWorkerResponse;
    default: {
      const unknown: never = type;
      throw bad(`unknown response type ${JSON.stringify(unknown)}`);
    }
  }
}

function requirePipeline(msg: Record<string, unknown>): void {
  if (!Number.isInteger(msg.pipeline)) bad(`${String(msg.type)}.pipeline must be the integer id from 'loaded'`);
}
