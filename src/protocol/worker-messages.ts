/**
 * Messages between the page (worker client) and the engine's Web Worker.
 * Requests carry an `id`; every reply and progress event names the request
 * it belongs to. Anything that arrives is validated before it is trusted:
 * a message from an older or foreign script fails with `bad-request` instead
 * of half-working.
 */
import { TesseraError, type ErrorData } from '../errors.ts';
import { DEVICE_REQUEST_NAMES, type Device, type DeviceRequest, type ValueInfo } from './device.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { PackManifest } from '../pack/manifest.ts';
import { validateTensorMap, type TensorMap } from './tensor.ts';
import type { ChatMessage, GenerateChunk, GenerateRequest, GenerateResult } from './generation.ts';

/** A cache named by data (see engine's CacheSpec; repeated here so protocol stays below engine). */
export type WorkerCacheSpec =
  | { type: 'default' }
  | { type: 'indexeddb'; prefix?: string }
  | { type: 'fs'; dir?: string }
  | { type: 'memory' };

export interface WorkerModelInfo {
  id: string;
  manifest: PackManifest;
  device: Device;
  deviceReason: string;
  inputNames: string[];
  outputNames: string[];
  inputMetadata: ValueInfo[];
}

/** A pipeline as the worker describes it (see engine's PipelineInfo). */
export interface WorkerPipelineInfo {
  id: string;
  kind: 'ocr';
  manifest: PackManifest;
  device: Device;
  deviceReason: string;
}

/** Weight variants of a decoder export: onnx/model.onnx, model_fp16.onnx, model_q4.onnx, model_quantized.onnx. */
export type DecoderDtype = 'fp32' | 'fp16' | 'q4' | 'q8';
export const DECODER_DTYPES: readonly DecoderDtype[] = ['fp32', 'fp16', 'q8', 'q4'];

/** A loaded decoder as the worker describes it (the engine's GeneratorInfo). */
export interface WorkerGeneratorInfo {
  id: string;
  manifest: PackManifest;
  device: Device;
  deviceReason: string;
  /** `config.json`'s model_type, e.g. `llama`. */
  modelType: string;
  /** Longest prompt + output in tokens; a prompt must be shorter. */
  contextLength: number;
  /** The weight variant loaded, and its graph's pack path. */
  dtype: DecoderDtype;
  graph: string;
}

/** An image for a pipeline: encoded PNG/JPEG bytes, or RGBA like ImageData. Its buffer may be transferred. */
export type WorkerImage = Uint8Array | { width: number; height: number; data: Uint8ClampedArray };

/** What an OCR pipeline answers (the engine's OcrResult, as data). */
export interface WorkerOcrResult {
  text: string;
  lines: { text: string; box: [number, number][]; score: number }[];
  timings: { detMs: number; clsMs: number; recMs: number };
}

/** Page -> worker. */
export type WorkerRequest =
  | {
      type: 'load';
      id: number;
      source: string | PackManifest;
      device: DeviceRequest;
      cache: WorkerCacheSpec;
      baseUrl?: string;
      /** Whether the page listens for progress (saves messages when not). */
      progress: boolean;
      /** Absent: ORT's default (true). */
      prepack?: boolean;
    }
  | { type: 'run'; id: number; model: string; feeds: TensorMap }
  /** Load a pipeline pack; answered by `pipeline-loaded`. */
  | {
      type: 'load-pipeline';
      id: number;
      kind: 'ocr';
      source: string | PackManifest;
      device: DeviceRequest;
      cache: WorkerCacheSpec;
      baseUrl?: string;
      progress: boolean;
      prepack?: boolean;
    }
  /** Run an OCR pipeline on one image; answered by `recognized`. */
  | { type: 'recognize'; id: number; pipeline: string; image: WorkerImage; options: { classify?: boolean; dropScore?: number } }
  /** Load a decoder pack; answered by `generator-loaded`. */
  | {
      type: 'load-generator';
      id: number;
      source: string | PackManifest;
      device: DeviceRequest;
      cache: WorkerCacheSpec;
      baseUrl?: string;
      progress: boolean;
      prepack?: boolean;
      dtype?: DecoderDtype;
    }
  /** Generate: `chunk` events as tokens decode, then `generated`. A `cancel` ends it within one step (finishReason abort). */
  | { type: 'generate'; id: number; generator: string; request: GenerateRequest }
  /** Prompt tokens of a prompt or chat messages; answered by `token-count`. */
  | { type: 'count-tokens'; id: number; generator: string; input: string | ChatMessage[] }
  /** Disposes a model, a pipeline or a generator, by its id. */
  | { type: 'dispose'; id: number; model: string }
  /** Abort the request `id` (a load or a run). */
  | { type: 'cancel'; id: number };

/** Worker -> page. */
export type WorkerResponse =
  | { type: 'progress'; id: number; progress: LoadProgress }
  | { type: 'loaded'; id: number; model: WorkerModelInfo }
  | { type: 'result'; id: number; outputs: TensorMap }
  | { type: 'disposed'; id: number }
  | { type: 'pipeline-loaded'; id: number; pipeline: WorkerPipelineInfo }
  | { type: 'recognized'; id: number; result: WorkerOcrResult }
  | { type: 'generator-loaded'; id: number; generator: WorkerGeneratorInfo }
  | { type: 'chunk'; id: number; chunk: GenerateChunk }
  | { type: 'generated'; id: number; result: GenerateResult }
  | { type: 'token-count'; id: number; count: number }
  | { type: 'error'; id: number; error: ErrorData };

/** The DeviceRequest values, for checking messages. */
export const DEVICE_REQUESTS: ReadonlySet<string> = new Set<DeviceRequest>(DEVICE_REQUEST_NAMES);
const CACHE_TYPES = new Set(['default', 'indexeddb', 'fs', 'memory']);

/**
 * @example
 * self.onmessage = (event) => handle(parseWorkerRequest(event.data));
 */
export function parseWorkerRequest(data: unknown): WorkerRequest {
  const msg = asMessage(data, 'request');
  const type = msg.type as WorkerRequest['type'];
  switch (type) {
    case 'load': {
      const source = msg.source;
      if (typeof source !== 'string' && (typeof source !== 'object' || source === null)) {
        throw bad('load.source must be a manifest URL or a manifest object');
      }
      if (typeof msg.device !== 'string' || !DEVICE_REQUESTS.has(msg.device)) bad(`load.device must be one of ${DEVICE_REQUEST_NAMES.join(', ')}, got ${JSON.stringify(msg.device)}`);
      const cache = msg.cache as { type?: unknown } | undefined;
      if (typeof cache !== 'object' || cache === null || typeof cache.type !== 'string' || !CACHE_TYPES.has(cache.type)) {
        bad('load.cache must be { type: default | indexeddb | fs | memory }');
      }
      if (msg.baseUrl !== undefined && typeof msg.baseUrl !== 'string') bad('load.baseUrl must be a string');
      if (msg.prepack !== undefined && typeof msg.prepack !== 'boolean') bad('load.prepack must be a boolean');
      return msg as unknown as WorkerRequest;
    }
    case 'run':
      requireString(msg, 'model');
      validateTensorMap(msg.feeds, 'run.feeds');
      return msg as unknown as WorkerRequest;
    case 'load-pipeline': {
      if (msg.kind !== 'ocr') bad(`load-pipeline.kind must be "ocr", got ${JSON.stringify(msg.kind)}`);
      // Same source, device, cache and prepack rules as a model load.
      parseWorkerRequest({ ...msg, type: 'load' });
      return msg as unknown as WorkerRequest;
    }
    case 'recognize': {
      requireString(msg, 'pipeline');
      const image = msg.image as { width?: unknown; height?: unknown; data?: unknown } | undefined;
      const isBytes = image instanceof Uint8Array;
      const isRgba = typeof image === 'object' && image !== null && Number.isInteger(image.width) && Number.isInteger(image.height) && image.data instanceof Uint8ClampedArray;
      if (!isBytes && !isRgba) bad('recognize.image must be PNG/JPEG bytes (Uint8Array) or { width, height, data: Uint8ClampedArray }');
      if (typeof msg.options !== 'object' || msg.options === null) bad('recognize.options must be an object');
      return msg as unknown as WorkerRequest;
    }
    case 'load-generator': {
      if (msg.dtype !== undefined && !DECODER_DTYPES.includes(msg.dtype as DecoderDtype)) bad(`load-generator.dtype must be one of ${DECODER_DTYPES.join(', ')}, got ${JSON.stringify(msg.dtype)}`);
      parseWorkerRequest({ ...msg, type: 'load' });
      return msg as unknown as WorkerRequest;
    }
    case 'generate':
      requireString(msg, 'generator');
      // The loop checks the request's fields itself (invalid-argument, with what to fix).
      if (typeof msg.request !== 'object' || msg.request === null) bad('generate.request must be an object with a prompt or messages');
      return msg as unknown as WorkerRequest;
    case 'count-tokens':
      requireString(msg, 'generator');
      if (typeof msg.input !== 'string' && !Array.isArray(msg.input)) bad('count-tokens.input must be a prompt string or a list of chat messages');
      return msg as unknown as WorkerRequest;
    case 'dispose':
      requireString(msg, 'model');
      return msg as unknown as WorkerRequest;
    case 'cancel':
      return msg as unknown as WorkerRequest;
    default: {
      const unknown: never = type;
      throw bad(`unknown request type ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * @example
 * worker.onmessage = (event) => settle(parseWorkerResponse(event.data));
 */
export function parseWorkerResponse(data: unknown): WorkerResponse {
  const msg = asMessage(data, 'response');
  const type = msg.type as WorkerResponse['type'];
  switch (type) {
    case 'progress':
      if (typeof msg.progress !== 'object' || msg.progress === null) bad('progress.progress must be an object');
      return msg as unknown as WorkerResponse;
    case 'loaded': {
      const model = msg.model as Partial<WorkerModelInfo> | undefined;
      if (typeof model?.id !== 'string' || !Array.isArray(model.inputNames) || !Array.isArray(model.outputNames)) {
        bad('loaded.model must describe the model (id, inputNames, outputNames)');
      }
      return msg as unknown as WorkerResponse;
    }
    case 'result':
      validateTensorMap(msg.outputs, 'result.outputs');
      return msg as unknown as WorkerResponse;
    case 'disposed':
      return msg as unknown as WorkerResponse;
    case 'pipeline-loaded': {
      const p = msg.pipeline as Partial<WorkerPipelineInfo> | undefined;
      if (typeof p?.id !== 'string' || p.kind !== 'ocr' || typeof p.device !== 'string') bad('pipeline-loaded.pipeline must describe the pipeline (id, kind, device)');
      return msg as unknown as WorkerResponse;
    }
    case 'recognized': {
      const r = msg.result as Partial<WorkerOcrResult> | undefined;
      if (typeof r?.text !== 'string' || !Array.isArray(r.lines)) bad('recognized.result must be { text, lines, timings }');
      return msg as unknown as WorkerResponse;
    }
    case 'generator-loaded': {
      const g = msg.generator as Partial<WorkerGeneratorInfo> | undefined;
      if (typeof g?.id !== 'string' || typeof g.device !== 'string' || typeof g.contextLength !== 'number') bad('generator-loaded.generator must describe the generator (id, device, contextLength)');
      return msg as unknown as WorkerResponse;
    }
    case 'chunk': {
      const c = msg.chunk as Partial<GenerateChunk> | undefined;
      if (typeof c?.text !== 'string' || !Array.isArray(c.tokenIds)) bad('chunk.chunk must be { text, tokenIds }');
      return msg as unknown as WorkerResponse;
    }
    case 'generated': {
      const r = msg.result as Partial<GenerateResult> | undefined;
      if (typeof r?.text !== 'string' || typeof r.finishReason !== 'string' || typeof r.completionTokens !== 'number') bad('generated.result must be { text, finishReason, promptTokens, completionTokens }');
      return msg as unknown as WorkerResponse;
    }
    case 'token-count':
      if (!Number.isInteger(msg.count)) bad('token-count.count must be an integer');
      return msg as unknown as WorkerResponse;
    case 'error':
      requireErrorData(msg);
      return msg as unknown as WorkerResponse;
    default: {
      const unknown: never = type;
      throw bad(`unknown response type ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * The envelope every worker message shares (an object with a string `type`
 * and an integer `id`); `who` names the protocol in the error.
 *
 * @example
 * const msg = asMessage(event.data, 'request', 'HF worker');
 */
export function asMessage(data: unknown, what: string, who = 'worker'): Record<string, unknown> {
  if (typeof data !== 'object' || data === null) throw bad(`${who} ${what} must be an object`);
  const msg = data as Record<string, unknown>;
  if (typeof msg.type !== 'string') throw bad(`${who} ${what} needs a string type`);
  if (!Number.isInteger(msg.id)) throw bad(`${who} ${what} ${msg.type} needs an integer id`);
  return msg;
}

/**
 * An `error` response carries ErrorData.
 *
 * @example
 * if (msg.type === 'error') requireErrorData(msg);
 */
export function requireErrorData(msg: Record<string, unknown>): void {
  const error = msg.error as Partial<ErrorData> | undefined;
  if (error?.name !== 'TesseraError' || typeof error.code !== 'string' || typeof error.message !== 'string') {
    bad('error.error must be ErrorData { name, code, message }');
  }
}

function requireString(msg: Record<string, unknown>, key: string): void {
  if (typeof msg[key] !== 'string') bad(`${String(msg.type)}.${key} must be a string`);
}

/**
 * @example
 * if (typeof msg.x !== 'number') badRequest('x must be a number');
 */
export function badRequest(message: string): never {
  throw new TesseraError('bad-request', message);
}

const bad = badRequest;
