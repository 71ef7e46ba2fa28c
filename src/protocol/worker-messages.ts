/**
 * Messages between the page (worker client) and the engine's Web Worker.
 * Requests carry an `id`; every reply and progress event names the request
 * it belongs to. Anything that arrives is validated before it is trusted:
 * a message from an older or foreign script fails with `bad-request` instead
 * of half-working.
 */
import { isTesseraError, TesseraError, type ErrorCode, type ErrorData } from '../errors.ts';
import { DEVICE_REQUEST_NAMES, NATIVE_DEVICES, type Device, type DeviceRequest, type ValueInfo, type WeightPath, type WeightsRequest } from './device.ts';
import type { FileProgress, LoadPhase, LoadProgress } from './load-progress.ts';
import type { PackManifest } from './pack-manifest.ts';
import { validateTensorMap, type TensorMap } from './tensor.ts';
import type { ChatMessage, GenerateChunk, GenerateRequest, GenerateResult } from './generation.ts';
import { parseGenerateChunk, parseGenerateRequest, parseGenerateResult } from './parse-generation.ts';
import { bad } from './read-fields.ts';

/** A cache named by data (see engine's CacheSpec; repeated here so protocol stays below engine). */
export type WorkerCacheSpec =
  | { type: 'default' }
  | { type: 'indexeddb'; prefix?: string }
  | { type: 'fs'; dir?: string }
  | { type: 'memory' };

const CACHE_TYPES: ReadonlySet<string> = new Set(['default', 'indexeddb', 'fs', 'memory']);

export interface WorkerModelInfo {
  id: string;
  manifest: PackManifest;
  device: Device;
  deviceReason: string;
  /** How the weights reached ONNX Runtime, and why (see backend/choose-weights.ts). */
  weights: WeightPath;
  weightsReason: string;
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
  /** UTF-8 bytes of the tokenizer's longest token (engine/generate/max-token-bytes.ts); absent when its vocabulary is not one that reads. */
  maxTokenBytes?: number;
}

/** An image for a pipeline: encoded PNG/JPEG bytes, or RGBA like ImageData. Its buffer may be transferred. */
export type WorkerImage = Uint8Array | { width: number; height: number; data: Uint8ClampedArray };

/** What an OCR pipeline answers (the engine's OcrResult, as data). */
export interface WorkerOcrResult {
  text: string;
  lines: { text: string; box: [number, number][]; score: number }[];
  timings: { detMs: number; clsMs: number; recMs: number };
}

/** What every load request (a model, a pipeline, a generator) carries. */
interface WorkerLoadFields {
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

/** Page -> worker. */
export type WorkerRequest =
  | (WorkerLoadFields & { type: 'load'; /** Absent: `auto`. */ weights?: WeightsRequest })
  | { type: 'run'; id: number; model: string; feeds: TensorMap }
  /** Load a pipeline pack; answered by `pipeline-loaded`. */
  | (WorkerLoadFields & { type: 'load-pipeline'; kind: 'ocr' })
  /** Run an OCR pipeline on one image; answered by `recognized`. */
  | { type: 'recognize'; id: number; pipeline: string; image: WorkerImage; options: { classify?: boolean; dropScore?: number } }
  /** Load a decoder pack; answered by `generator-loaded`. */
  | (WorkerLoadFields & { type: 'load-generator'; dtype?: DecoderDtype })
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
const DEVICES: ReadonlySet<string> = new Set<Device>(['webgpu', 'wasm', ...NATIVE_DEVICES]);
const PHASES: ReadonlySet<string> = new Set<LoadPhase>(['plan', 'download', 'assemble', 'session']);

/**
 * Parsers build a fresh object of the declared shape from the fields they
 * checked (as the coordinator's do), never cast what arrived: an extra or
 * misspelt field from an older or foreign script cannot ride along.
 *
 * @example
 * self.onmessage = (event) => handle(parseWorkerRequest(event.data));
 */
export function parseWorkerRequest(data: unknown): WorkerRequest {
  const msg = asMessage(data, 'request');
  const id = msg.id as number;
  const type = msg.type as WorkerRequest['type'];
  switch (type) {
    case 'load':
      return { type, id, ...loadFields(msg, 'load') };
    case 'run': {
      const model = requireString(msg, 'model');
      validateTensorMap(msg.feeds, 'run.feeds');
      return { type, id, model, feeds: msg.feeds };
    }
    case 'load-pipeline': {
      if (msg.kind !== 'ocr') bad(`load-pipeline.kind must be "ocr", got ${JSON.stringify(msg.kind)}`);
      // Same source, device, cache and prepack rules as a model load.
      return { type, id, kind: 'ocr', ...loadFields(msg, 'load') };
    }
    case 'recognize': {
      const pipeline = requireString(msg, 'pipeline');
      const image = msg.image as { width?: unknown; height?: unknown; data?: unknown } | undefined;
      let picture: WorkerImage;
      if (image instanceof Uint8Array) picture = image;
      else if (typeof image === 'object' && image !== null && Number.isInteger(image.width) && Number.isInteger(image.height) && image.data instanceof Uint8ClampedArray) {
        picture = { width: image.width as number, height: image.height as number, data: image.data };
      } else throw bad('recognize.image must be PNG/JPEG bytes (Uint8Array) or { width, height, data: Uint8ClampedArray }');
      const o = msg.options as { classify?: unknown; dropScore?: unknown } | null;
      if (typeof o !== 'object' || o === null) throw bad('recognize.options must be an object');
      if (o.classify !== undefined && typeof o.classify !== 'boolean') bad('recognize.options.classify must be a boolean');
      if (o.dropScore !== undefined && typeof o.dropScore !== 'number') bad('recognize.options.dropScore must be a number');
      const options = {
        ...(o.classify === undefined ? {} : { classify: o.classify as boolean }),
        ...(o.dropScore === undefined ? {} : { dropScore: o.dropScore as number }),
      };
      return { type, id, pipeline, image: picture, options };
    }
    case 'load-generator': {
      if (msg.dtype !== undefined && !DECODER_DTYPES.includes(msg.dtype as DecoderDtype)) bad(`load-generator.dtype must be one of ${DECODER_DTYPES.join(', ')}, got ${JSON.stringify(msg.dtype)}`);
      // A decoder load has no weights choice (the worker client sends the model load's fields): checked, not kept.
      const { weights: _weights, ...fields } = loadFields(msg, 'load-generator');
      return { type, id, ...fields, ...(msg.dtype === undefined ? {} : { dtype: msg.dtype as DecoderDtype }) };
    }
    case 'generate': {
      const generator = requireString(msg, 'generator');
      if (typeof msg.request !== 'object' || msg.request === null || Array.isArray(msg.request)) bad('generate.request must be an object with a prompt or messages');
      return { type, id, generator, request: callerInput(() => parseGenerateRequest(withoutEmptyStops(msg.request as Record<string, unknown>), 'generate.request')) };
    }
    case 'count-tokens': {
      const generator = requireString(msg, 'generator');
      const input = msg.input;
      if (typeof input === 'string') return { type, id, generator, input };
      if (!Array.isArray(input)) throw bad('count-tokens.input must be a prompt string or a list of chat messages');
      const { messages } = callerInput(() => parseGenerateRequest({ messages: input }, 'count-tokens.input')) as { messages: ChatMessage[] };
      return { type, id, generator, input: messages };
    }
    case 'dispose':
      return { type, id, model: requireString(msg, 'model') };
    case 'cancel':
      return { type, id };
    default: {
      const unknown: never = type;
      throw bad(`unknown request type ${JSON.stringify(unknown)}`);
    }
  }
}

/** The fields a model load and a pipeline load share. */
function loadFields(msg: Record<string, unknown>, what: string) {
  const source = msg.source;
  if (typeof source !== 'string' && (typeof source !== 'object' || source === null || Array.isArray(source))) {
    throw bad(`${what}.source must be a manifest URL or a manifest object`);
  }
  if (typeof msg.device !== 'string' || !DEVICE_REQUESTS.has(msg.device)) bad(`${what}.device must be one of ${DEVICE_REQUEST_NAMES.join(', ')}, got ${JSON.stringify(msg.device)}`);
  if (msg.baseUrl !== undefined && typeof msg.baseUrl !== 'string') bad(`${what}.baseUrl must be a string`);
  if (msg.prepack !== undefined && typeof msg.prepack !== 'boolean') bad(`${what}.prepack must be a boolean`);
  if (msg.weights !== undefined && msg.weights !== 'auto' && msg.weights !== 'copy') bad(`${what}.weights must be auto or copy, got ${JSON.stringify(msg.weights)}`);
  return {
    // A manifest object is checked by the loader itself (validateManifest) before it is trusted.
    source: source as string | PackManifest,
    device: msg.device as DeviceRequest,
    cache: cacheSpec(msg.cache, `${what}.cache`),
    ...(msg.baseUrl === undefined ? {} : { baseUrl: msg.baseUrl as string }),
    progress: msg.progress === true,
    ...(msg.prepack === undefined ? {} : { prepack: msg.prepack as boolean }),
    ...(msg.weights === undefined ? {} : { weights: msg.weights as WeightsRequest }),
  };
}

/**
 * @example
 * const cache = cacheSpec(msg.cache, 'load.cache'); // { type: 'indexeddb', prefix: 't' }
 */
export function cacheSpec(value: unknown, what: string): WorkerCacheSpec {
  const cache = value as { type?: unknown; prefix?: unknown; dir?: unknown } | null | undefined;
  if (typeof cache !== 'object' || cache === null || typeof cache.type !== 'string' || !CACHE_TYPES.has(cache.type)) {
    throw bad(`${what} must be { type: default | indexeddb | fs | memory }`);
  }
  switch (cache.type) {
    case 'indexeddb':
      if (cache.prefix !== undefined && typeof cache.prefix !== 'string') bad(`${what}.prefix must be a string`);
      return cache.prefix === undefined ? { type: 'indexeddb' } : { type: 'indexeddb', prefix: cache.prefix as string };
    case 'fs':
      if (cache.dir !== undefined && typeof cache.dir !== 'string') bad(`${what}.dir must be a string`);
      return cache.dir === undefined ? { type: 'fs' } : { type: 'fs', dir: cache.dir as string };
    default:
      return { type: cache.type as 'default' | 'memory' };
  }
}

/**
 * @example
 * worker.onmessage = (event) => settle(parseWorkerResponse(event.data));
 */
export function parseWorkerResponse(data: unknown): WorkerResponse {
  const msg = asMessage(data, 'response');
  const id = msg.id as number;
  const type = msg.type as WorkerResponse['type'];
  switch (type) {
    case 'progress':
      return { type, id, progress: loadProgress(msg.progress) };
    case 'loaded': {
      const model = msg.model as Partial<Record<keyof WorkerModelInfo, unknown>> | undefined;
      if (typeof model?.id !== 'string' || !isStringArray(model.inputNames) || !isStringArray(model.outputNames)) {
        throw bad('loaded.model must describe the model (id, inputNames, outputNames)');
      }
      const { device, deviceReason } = deviceOf(model, 'loaded.model');
      if (!Array.isArray(model.inputMetadata)) bad('loaded.model.inputMetadata must be an array');
      if ((model.weights !== 'streamed' && model.weights !== 'copied') || typeof model.weightsReason !== 'string') {
        bad('loaded.model must say how its weights were loaded (weights: streamed | copied, weightsReason)');
      }
      return {
        type,
        id,
        model: {
          id: model.id,
          manifest: manifestObject(model.manifest, 'loaded.model.manifest'),
          device,
          deviceReason,
          weights: model.weights as WeightPath,
          weightsReason: model.weightsReason as string,
          inputNames: [...model.inputNames],
          outputNames: [...model.outputNames],
          inputMetadata: (model.inputMetadata as unknown[]).map((v, i) => valueInfo(v, `loaded.model.inputMetadata[${i}]`)),
        },
      };
    }
    case 'result':
      validateTensorMap(msg.outputs, 'result.outputs');
      return { type, id, outputs: msg.outputs };
    case 'disposed':
      return { type, id };
    case 'pipeline-loaded': {
      const p = msg.pipeline as Partial<Record<keyof WorkerPipelineInfo, unknown>> | undefined;
      if (typeof p?.id !== 'string' || p.kind !== 'ocr' || typeof p.device !== 'string') throw bad('pipeline-loaded.pipeline must describe the pipeline (id, kind, device)');
      const { device, deviceReason } = deviceOf(p, 'pipeline-loaded.pipeline');
      return { type, id, pipeline: { id: p.id, kind: 'ocr', manifest: manifestObject(p.manifest, 'pipeline-loaded.pipeline.manifest'), device, deviceReason } };
    }
    case 'recognized':
      return { type, id, result: ocrResult(msg.result) };
    case 'generator-loaded':
      return { type, id, generator: generatorInfo(msg.generator) };
    case 'chunk':
      return { type, id, chunk: parseGenerateChunk(msg.chunk, 'chunk.chunk') };
    case 'generated':
      return { type, id, result: parseGenerateResult(msg.result, 'generated.result') };
    case 'token-count':
      if (!Number.isSafeInteger(msg.count) || (msg.count as number) < 0) bad(`token-count.count must be an integer >= 0, got ${JSON.stringify(msg.count)}`);
      return { type, id, count: msg.count as number };
    case 'error':
      return { type, id, error: requireErrorData(msg) };
    default: {
      const unknown: never = type;
      throw bad(`unknown response type ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * A generate request's fields are the caller's input, passed through the
 * worker client unchanged: a wrong one is `invalid-argument` (what the
 * in-process loop answers for the same request), not a protocol error.
 */
function callerInput<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (isTesseraError(error, 'bad-request')) throw new TesseraError('invalid-argument', error.message, { cause: error });
    throw error;
  }
}

/** The loop ignores empty stop strings (they would match everywhere); the wire parser refuses them, so drop them first. */
function withoutEmptyStops(request: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(request.stop)) return request;
  return { ...request, stop: request.stop.filter((s) => s !== '') };
}

function generatorInfo(value: unknown): WorkerGeneratorInfo {
  const what = 'generator-loaded.generator';
  const g = value as Partial<Record<keyof WorkerGeneratorInfo, unknown>> | null | undefined;
  if (typeof g !== 'object' || g === null || typeof g.id !== 'string') throw bad(`${what} must describe the generator (id, manifest, device, modelType, contextLength, dtype, graph)`);
  const { device, deviceReason } = deviceOf(g, what);
  if (typeof g.modelType !== 'string') bad(`${what}.modelType must be a string (config.json's model_type)`);
  if (!Number.isSafeInteger(g.contextLength) || (g.contextLength as number) < 1) bad(`${what}.contextLength must be an integer >= 1, got ${JSON.stringify(g.contextLength)}`);
  if (!DECODER_DTYPES.includes(g.dtype as DecoderDtype)) bad(`${what}.dtype must be one of ${DECODER_DTYPES.join(', ')}, got ${JSON.stringify(g.dtype)}`);
  if (typeof g.graph !== 'string') bad(`${what}.graph must be the graph's pack path`);
  if (g.maxTokenBytes !== undefined && (!Number.isSafeInteger(g.maxTokenBytes) || (g.maxTokenBytes as number) < 1)) bad(`${what}.maxTokenBytes must be an integer >= 1 when present, got ${JSON.stringify(g.maxTokenBytes)}`);
  return {
    id: g.id,
    manifest: manifestObject(g.manifest, `${what}.manifest`),
    device,
    deviceReason,
    modelType: g.modelType as string,
    contextLength: g.contextLength as number,
    dtype: g.dtype as DecoderDtype,
    graph: g.graph as string,
    ...(g.maxTokenBytes === undefined ? {} : { maxTokenBytes: g.maxTokenBytes as number }),
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function deviceOf(info: { device?: unknown; deviceReason?: unknown }, what: string): { device: Device; deviceReason: string } {
  if (typeof info.device !== 'string' || !DEVICES.has(info.device)) bad(`${what}.device must be one of ${[...DEVICES].join(', ')}, got ${JSON.stringify(info.device)}`);
  if (typeof info.deviceReason !== 'string') bad(`${what}.deviceReason must be a string`);
  return { device: info.device as Device, deviceReason: info.deviceReason as string };
}

/** The worker's loader validated the manifest already; the page only needs it to be the object it describes. */
function manifestObject(value: unknown, what: string): PackManifest {
  const m = value as Partial<PackManifest> | null | undefined;
  if (typeof m !== 'object' || m === null || typeof m.name !== 'string' || typeof m.revision !== 'string' || !Array.isArray(m.files)) {
    throw bad(`${what} must be a pack manifest`);
  }
  return m as PackManifest;
}

function valueInfo(value: unknown, what: string): ValueInfo {
  const v = value as { name?: unknown; type?: unknown; shape?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.name !== 'string') throw bad(`${what} must be { name, type?, shape? }`);
  if (v.type !== undefined && typeof v.type !== 'string') bad(`${what}.type must be a string`);
  if (v.shape !== undefined && !(Array.isArray(v.shape) && v.shape.every((d) => typeof d === 'number' || typeof d === 'string'))) bad(`${what}.shape must list numbers and names`);
  return {
    name: v.name,
    ...(v.type === undefined ? {} : { type: v.type as string }),
    ...(v.shape === undefined ? {} : { shape: [...(v.shape as (number | string)[])] }),
  };
}

function loadProgress(value: unknown): LoadProgress {
  const p = value as Partial<Record<keyof LoadProgress, unknown>> | null | undefined;
  if (typeof p !== 'object' || p === null) throw bad('progress.progress must be an object');
  if (typeof p.phase !== 'string' || !PHASES.has(p.phase)) bad(`progress.progress.phase must be plan, download, assemble or session, got ${JSON.stringify(p.phase)}`);
  for (const key of ['bytesDone', 'bytesTotal', 'bytesFromCache', 'bytesFromNetwork', 'rateBytesPerSec'] as const) {
    if (!isFiniteNumber(p[key])) bad(`progress.progress.${key} must be a number`);
  }
  if (p.etaSeconds !== undefined && !isFiniteNumber(p.etaSeconds)) bad('progress.progress.etaSeconds must be a number');
  if (typeof p.files !== 'object' || p.files === null) bad('progress.progress.files must be an object');
  if (!isStringArray(p.rangeFallbackFiles)) bad('progress.progress.rangeFallbackFiles must be an array of paths');
  if (typeof p.done !== 'boolean') bad('progress.progress.done must be a boolean');
  const files: Record<string, FileProgress> = {};
  for (const [path, f] of Object.entries(p.files as Record<string, unknown>)) {
    const file = f as Partial<FileProgress> | null;
    if (!isFiniteNumber(file?.bytesDone) || !isFiniteNumber(file.bytesTotal)) bad(`progress.progress.files["${path}"] must be { bytesDone, bytesTotal }`);
    files[path] = { bytesDone: file!.bytesDone as number, bytesTotal: file!.bytesTotal as number };
  }
  return {
    phase: p.phase as LoadPhase,
    bytesDone: p.bytesDone as number,
    bytesTotal: p.bytesTotal as number,
    bytesFromCache: p.bytesFromCache as number,
    bytesFromNetwork: p.bytesFromNetwork as number,
    rateBytesPerSec: p.rateBytesPerSec as number,
    etaSeconds: p.etaSeconds as number | undefined,
    files,
    rangeFallbackFiles: [...(p.rangeFallbackFiles as string[])],
    done: p.done as boolean,
  };
}

function ocrResult(value: unknown): WorkerOcrResult {
  const r = value as Partial<Record<keyof WorkerOcrResult, unknown>> | null | undefined;
  if (typeof r?.text !== 'string' || !Array.isArray(r.lines)) throw bad('recognized.result must be { text, lines, timings }');
  const lines = r.lines.map((l: unknown, i: number) => {
    const line = l as { text?: unknown; box?: unknown; score?: unknown } | null;
    const box = line?.box;
    if (typeof line?.text !== 'string' || !isFiniteNumber(line.score) || !Array.isArray(box) || !box.every((pt) => Array.isArray(pt) && pt.length === 2 && pt.every(isFiniteNumber))) {
      throw bad(`recognized.result.lines[${i}] must be { text, box: [x, y][], score }`);
    }
    return { text: line.text, box: (box as [number, number][]).map(([x, y]) => [x, y] as [number, number]), score: line.score };
  });
  const t = r.timings as Partial<WorkerOcrResult['timings']> | null | undefined;
  if (!isFiniteNumber(t?.detMs) || !isFiniteNumber(t.clsMs) || !isFiniteNumber(t.recMs)) throw bad('recognized.result.timings must be { detMs, clsMs, recMs }');
  return { text: r.text, lines, timings: { detMs: t.detMs, clsMs: t.clsMs as number, recMs: t.recMs as number } };
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
 * An `error` response carries ErrorData; returns a fresh copy of it.
 *
 * @example
 * if (msg.type === 'error') return { type, id, error: requireErrorData(msg) };
 */
export function requireErrorData(msg: Record<string, unknown>): ErrorData {
  const error = msg.error as Partial<Record<keyof ErrorData, unknown>> | undefined;
  if (error?.name !== 'TesseraError' || typeof error.code !== 'string' || typeof error.message !== 'string') {
    throw bad('error.error must be ErrorData { name, code, message }');
  }
  // An unknown code is kept here; fromErrorData turns it into `internal` on the receiving side.
  const data: ErrorData = { name: 'TesseraError', code: error.code as ErrorCode, message: error.message };
  if (typeof error.details === 'object' && error.details !== null && !Array.isArray(error.details)) data.details = { ...(error.details as Record<string, unknown>) };
  return data;
}

function requireString(msg: Record<string, unknown>, key: string): string {
  if (typeof msg[key] !== 'string') bad(`${String(msg.type)}.${key} must be a string`);
  return msg[key] as string;
}

/**
 * @example
 * if (typeof msg.x !== 'number') badRequest('x must be a number');
 */
export { bad as badRequest };
