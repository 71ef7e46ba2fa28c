/**
 * The engine: load a pack, get a model handle, run it. One interface, several
 * transports (in-process, a dedicated Web Worker), so calling code is the same
 * wherever the session actually lives.
 */
import type { DeviceRequest, WeightsRequest } from '../protocol/device.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { PackManifest } from '../pack/manifest.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import type { WorkerCacheSpec, WorkerModelInfo } from '../protocol/worker-messages.ts';
import type { PipelineKind, PipelineOf } from './pipelines/pipeline.ts';
import type { DecoderDtype, TextGenerator } from './generate/text-generator.ts';

export type { DecoderDtype, TextGenerator };

/** Where a model comes from: its `manifest.json` URL, or a manifest already in hand. */
export type ModelSource = string | PackManifest;

/**
 * Which cache to load through, as data so it can cross into a worker (a
 * ModelCache object cannot: its methods do not survive structured clone).
 * - `default`: IndexedDB in browsers and workers, the cache directory in Node.
 * - `memory`: nothing persisted; for running a model you do not want to keep.
 */
export type CacheSpec = WorkerCacheSpec;

export interface LoadOptions {
  /** Default `auto`: WebGPU when the adapter fits the model, else wasm. */
  device?: DeviceRequest;
  /**
   * Default true (ORT's default). `false`: every session of this load (a
   * pipeline's too) skips repacking its weights: ready sooner, less memory,
   * some speed lost on multi-row inputs (numbers in src/backend/prepack-options.ts).
   */
  prepack?: boolean;
  /**
   * Default `auto`: where the browser has JSPI, each external-data file goes
   * to ONNX Runtime as a Blob composed of the cached chunk Blobs, and no copy
   * of the weights is assembled in JS (`weights: 'streamed'` on the handle).
   * `copy`: the copying path everywhere (`weights: 'copied'`). Models only;
   * pipelines always copy.
   */
  weights?: WeightsRequest;
  /** A spec, or (in-process transport only) a ModelCache object. Default `{ type: 'default' }`. */
  cache?: CacheSpec | ModelCache;
  /** Where the files of a manifest given as an object live. Defaults to the manifest URL's folder. */
  baseUrl?: string;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  /**
   * In-process transport only: the fetch the loader uses (e.g. one that reads
   * a pack from disk). Default: the global fetch.
   */
  fetch?: typeof globalThis.fetch;
}

export interface LoadGeneratorOptions extends LoadOptions {
  /**
   * The weight variant (onnx/model.onnx, model_fp16.onnx, model_q4.onnx,
   * model_quantized.onnx). Default: the first the pack has of fp32, fp16, q8, q4.
   * Only that variant's files are downloaded.
   */
  dtype?: DecoderDtype;
}

export interface RunOptions {
  signal?: AbortSignal;
  /**
   * Worker transport only: transfer the feeds' buffers to the worker instead
   * of copying them. Faster for big inputs, but the caller's arrays are
   * detached (length 0) afterwards. Default false.
   */
  transfer?: boolean;
}

/**
 * What is known about a loaded model; plain data, the same on both sides of a
 * worker (one definition, in the worker protocol). `deviceReason` says why that
 * device: `webgpu: adapter google/swiftshader`, `wasm: navigator.gpu missing`, ...;
 * `weights`/`weightsReason` say how the weights reached ONNX Runtime and why.
 */
export type ModelInfo = WorkerModelInfo;

export interface ModelHandle extends ModelInfo {
  run(feeds: TensorMap, options?: RunOptions): Promise<TensorMap>;
  /** Releases the session. Runs after this fail with `session-closed`. */
  dispose(): Promise<void>;
}

export interface Engine {
  readonly transport: 'worker' | 'in-process';
  load(source: ModelSource, options?: LoadOptions): Promise<ModelHandle>;
  /**
   * Loads a pipeline pack (one whose `tessera.json` declares it, e.g. the
   * built-in `ppocr-v4`): every graph through the same loader and cache, all
   * sessions on one device.
   *
   * @example
   * const ocr = await engine.loadPipeline('ocr', 'http://localhost:8787/models/ppocr-v4/manifest.json');
   * const { text, lines } = await ocr.recognize(pngBytes);
   */
  loadPipeline<K extends PipelineKind>(kind: K, source: ModelSource, options?: LoadOptions): Promise<PipelineOf[K]>;
  /**
   * Loads a decoder-only language model in the Hugging Face / Optimum layout
   * (config.json, generation_config.json, tokenizer.json,
   * tokenizer_config.json, onnx/model*.onnx), packed with `tessera pack <folder>`,
   * or straight from a Hugging Face-style repository URL (`.../resolve/<rev>/`).
   *
   * @example
   * const llm = await engine.loadGenerator('http://localhost:8787/models/llama/manifest.json', { device: 'auto' });
   * const stream = llm.generate({ messages: [{ role: 'user', content: 'Hello' }], maxNewTokens: 64 });
   * for await (const { text } of stream) process.stdout.write(text);
   * console.log((await stream.result).finishReason);
   */
  loadGenerator(source: ModelSource, options?: LoadGeneratorOptions): Promise<TextGenerator>;
  /** Disposes every model; the worker transport also ends its worker. */
  dispose(): Promise<void>;
}
