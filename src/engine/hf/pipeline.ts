/**
 * A transformers.js pipeline in this realm (`tessera.pipeline(...)`, in
 * src/transport/hf-pipeline.ts, runs it here or in its worker)
 * whose files come through Tessera (parallel ranged downloads, per-chunk
 * SHA-256, resume, IndexedDB / the cache directory, shared chunk store).
 *
 * Device: `auto` picks WebGPU when an adapter exists, else wasm, with the
 * reason, as raw sessions do (chooseDevice). In Node transformers.js runs on
 * onnxruntime-node, so the choice and the threads are the raw native
 * sessions' (chooseNativeDevice, src/backend/ort-node.ts): `auto` takes the
 * best installed provider, `cpu`/`cuda`/... are checked against what is
 * installed, and `wasm` runs as native `cpu` (transformers.js has no wasm
 * build in Node), saying so.
 */
import type { ModelCache } from '../../cache/model-cache.ts';
import { chooseDevice, type DeviceRequest } from '../../backend/choose-device.ts';
import { chooseWeights, type WeightsChoice } from '../../backend/choose-weights.ts';
import { splitLocation } from '../../pack/split-inline-weights.ts';
import type { WeightPath, WeightsRequest } from '../../protocol/device.ts';
import { importNodeOnly } from '../../backend/node-only.ts';
import { createTransformersPipeline, type HfDevice, type TransformersOutput } from '../../backend/transformers.ts';
import { detectCapabilities, type Capabilities } from '../../env.ts';
import { TesseraError, throwIfAborted } from '../../errors.ts';
import type { CacheSpec } from '../engine.ts';
import { resolveCache } from '../resolve-cache.ts';
import { hfRepoFiles, packFiles, type HfFiles, type HfLoadStats } from './hf-file-provider.ts';
import { resolveHfSource, type HfSource } from './hf-source.ts';

export interface HfPipelineOptions {
  /** Default `auto`. */
  device?: DeviceRequest;
  /** transformers.js dtype; default `fp32` (transformers.js itself would pick `q8` on wasm). */
  dtype?: string;
  source: string | HfSource;
  cache?: CacheSpec | ModelCache;
  /** Network bytes received so far, over all of the model's files. */
  onProgress?: (progress: { bytesFromNetwork: number; file: string }) => void;
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
  concurrency?: number;
  /** HF-repository sources: chunk size of the synthesized manifests (default 8 MiB). */
  chunkSize?: number;
  /**
   * Let ORT repack weights for its matrix kernels when the session is created
   * (default true, ORT's own default). `false` makes a session ready sooner
   * (its creation was ~3x faster on a 97 MiB encoder) at a slower call (~1.5x).
   */
  prepack?: boolean;
  /** Node: intra-op threads of the native session (default: the machine's cores, as raw native sessions). */
  threads?: number;
  /** Browsers: where ORT's wasm files live (default: this app's origin; transformers.js would ask a CDN). Giving them keeps the copying weight path. */
  wasmPaths?: string | { wasm: string; mjs: string };
  /**
   * `auto` (default): where the browser has JSPI, the graph's inline weights
   * stay in the cached file and ORT's JSPI build reads them from its Blob
   * (`weights: 'streamed'`); elsewhere, or with `copy`, the graph goes to ORT
   * whole, as bytes.
   */
  weights?: WeightsRequest;
  /**
   * In a page the pipeline runs in its own dedicated Web Worker unless this is
   * `false` (then cache and fetch may be objects). Workers and Node run in-process.
   */
  worker?: boolean;
}

export interface HfPipeline {
  (input: string | string[], options?: Record<string, unknown>): Promise<TransformersOutput>;
  countTokens(texts: string[]): Promise<number[]>;
  readonly task: string;
  readonly modelId: string;
  readonly device: HfDevice;
  readonly reason: string;
  /** Where the model's bytes came from for this load. */
  readonly stats: HfLoadStats;
  /** How the graph's weights reached ORT (`streamed`: from the cached Blobs, no whole copy in JS), and why. */
  readonly weights: WeightPath;
  readonly weightsReason: string;
  dispose(): Promise<void>;
}

/**
 * The pipeline in this realm (`options.worker` is not looked at: the
 * transport layer's `pipeline` decides where it runs and calls this here or
 * in its worker).
 *
 * @example
 * const embed = await inProcessPipeline('feature-extraction', 'org/bert', { source: 'https://models.example', device: 'auto' });
 * const { dims, data } = await embed(['hello world'], { pooling: 'mean', normalize: true });
 */
export async function inProcessPipeline(task: string, modelId: string, options: HfPipelineOptions): Promise<HfPipeline> {
  checkPipelineArgs(task, options);
  const source = resolveHfSource(options.source, modelId);
  const { device, reason, threads } = await pickDevice(options.device ?? 'auto', options.dtype ?? 'fp32', options.threads);
  const cache = await resolveCache(options.cache);
  const caps = await detectCapabilities();
  const weights = pipelineWeights(options, caps);
  const streamed = weights.weights === 'streamed';
  let received = 0;
  const providerOptions = {
    cache,
    // Streamed: a graph whole in the cache comes as its chunks' Blob, split without reading its weights.
    ...(streamed ? { as: 'blob' as const } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onBytes: (file: string, n: number) => {
      received += n;
      if (n > 0) options.onProgress?.({ bytesFromNetwork: received, file });
    },
  };
  const files: HfFiles = source.type === 'pack' ? await packFiles(source.url, providerOptions) : hfRepoFiles(source.url, providerOptions);
  const dtype = options.dtype ?? 'fp32';
  const graphPath = `onnx/${graphName(dtype)}`;
  // transformers.js asks for these only once it is imported and has read
  // config.json; start them now so the reads overlap its import and ORT's start.
  for (const path of [graphPath, 'config.json', 'tokenizer.json', 'tokenizer_config.json']) files.prefetch(path);
  // Streamed: the split graph too (stored, or walked from the file), which transformers.js asks for right after its config.
  if (streamed) void files.openSplit(graphPath, splitLocation(graphPath)).catch(() => {});
  const graph = files.manifest?.graphs.find((g) => g.path === graphPath);
  const run = await createTransformersPipeline({
    task,
    files,
    device,
    dtype,
    graph: graphPath,
    weights,
    ...(graph && graph.externalData.length > 0 ? { externalData: graph.externalData.map((p) => ({ path: p.slice(p.lastIndexOf('/') + 1), file: p })) } : {}),
    ...(options.wasmPaths !== undefined ? { wasmPaths: options.wasmPaths } : {}),
    ...(options.prepack !== undefined ? { prepack: options.prepack } : {}),
    ...(threads !== undefined ? { threads } : {}),
  });
  throwIfAborted(options.signal);
  return Object.assign(run, { task, modelId, device, reason, stats: files.stats });
}

/**
 * What every `pipeline(...)` call checks first, wherever it then runs.
 *
 * @example
 * checkPipelineArgs('feature-extraction', { source: 'https://hub.example' });
 */
export function checkPipelineArgs(task: string, options: HfPipelineOptions | undefined): asserts options is HfPipelineOptions {
  if (typeof task !== 'string' || task.length === 0) throw new TesseraError('invalid-argument', `task must be a transformers.js task name such as 'feature-extraction', got ${JSON.stringify(task)}`);
  if (options === undefined || options.source === undefined) {
    throw new TesseraError('invalid-argument', 'pipeline needs options.source: a pack manifest URL, a repository URL ending in /resolve/<rev>/, or a hub host');
  }
  throwIfAborted(options.signal);
}

/** chooseWeights, with the reasons transformers.js adds to copy: onnxruntime-node outside browsers, and wasmPaths naming one ORT build's files. */
function pipelineWeights(options: HfPipelineOptions, caps: Capabilities): WeightsChoice {
  if (caps.runtime === 'node' || caps.runtime === 'workerd') return { weights: 'copied', reason: 'copied: onnxruntime-node reads the graph from memory' };
  if (options.wasmPaths !== undefined) return { weights: 'copied', reason: "copied: wasmPaths were given, and they name the files of transformers.js's default ORT build" };
  return chooseWeights(options.weights ?? 'auto', caps);
}

/** transformers.js's file name for a dtype (its DEFAULT_DTYPE_SUFFIX_MAPPING). */
function graphName(dtype: string): string {
  const suffix: Record<string, string> = { fp32: '', fp16: '_fp16', int8: '_int8', uint8: '_uint8', q8: '_quantized', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4' };
  return `model${suffix[dtype] ?? `_${dtype}`}.onnx`;
}

async function pickDevice(requested: DeviceRequest, dtype: string, threads: number | undefined): Promise<{ device: HfDevice; reason: string; threads?: number }> {
  const caps = await detectCapabilities();
  if (caps.runtime === 'node') {
    if (requested === 'webgpu') throw new TesseraError('device-unavailable', "WebGPU was requested but transformers.js runs on onnxruntime-node here; use device 'auto', 'cpu' or a GPU provider");
    const { chooseNativeDevice, defaultThreads, detectNativeProviders } = await importNodeOnly('./ort-node.ts');
    const n = threads ?? defaultThreads();
    const native = requested === 'wasm' ? 'cpu' : requested;
    const choice = chooseNativeDevice(native, await detectNativeProviders(), n);
    const reason = requested === 'wasm' ? `${choice.reason} (wasm requested; transformers.js runs on onnxruntime-node in Node)` : choice.reason;
    return { device: choice.device, reason, threads: n };
  }
  if (caps.runtime === 'workerd') {
    if (requested === 'webgpu') throw new TesseraError('device-unavailable', "WebGPU was requested but transformers.js runs on onnxruntime-node here; use device 'auto' or 'wasm'");
    return { device: 'cpu', reason: 'cpu: onnxruntime-node (stands in for wasm)' };
  }
  const choice = chooseDevice(requested, caps, { largestTensorBytes: 0, usesFloat16: dtype.includes('16') });
  return { device: choice.device, reason: choice.reason };
}
