/**
 * ONNX Runtime Web behind Tessera's session interface. The only module that
 * imports onnxruntime-web: the rest of Tessera sees plain TensorData in and
 * out, a device and the reason it was chosen, a weight path and its reason.
 *
 * Two builds, one per realm, imported on first use (never at import time):
 * - the JSPI build (`onnxruntime-web/jspi`: dist/ort.jspi.bundle.min.mjs with
 *   ort-wasm-simd-threaded.jspi.{mjs,wasm}) where the realm has JSPI. It mounts
 *   an external-data Blob and reads each initializer's byte range from it
 *   through one reused buffer (on WebGPU straight into a GPU buffer), so no
 *   copy of a whole file is assembled in JS;
 * - the default build elsewhere (the JSEP bundle in browsers; under Node the
 *   package's node build, which runs the same wasm in-process). It reads each
 *   external-data file into one Uint8Array.
 */
import type * as Ort from 'onnxruntime-web';
import { TesseraError, isTesseraError, throwIfAborted } from '../errors.ts';
import { detectCapabilities, type Capabilities } from '../env.ts';
import type { ValueInfo, WeightPath, WeightsRequest } from '../protocol/device.ts';
import type { TensorData, TensorMap } from '../protocol/tensor.ts';
import { chooseDevice, type Device, type DeviceRequest } from './choose-device.ts';
import { chooseWeights } from './choose-weights.ts';
import { readModelRequirements, type ModelRequirements } from './model-requirements.ts';
import { createSerialQueue, type SerialQueue } from './serial-queue.ts';
import { prepackOptions } from './prepack-options.ts';
import { rootedBlob } from './rooted-blob.ts';
import { checkFeeds, closedError, fromOrtTensor, toValueInfo, withAbort } from './ort-values.ts';

type OrtModule = typeof Ort;
type OrtBuild = 'jspi' | 'default';

export interface ExternalDataFile {
  /** The path as written in the graph's initializer `location` fields. */
  path: string;
  /** Bytes, or (streamed path) a Blob composed of the cached chunk Blobs. */
  data: Uint8Array | Blob;
}

export interface OrtSessionOptions {
  /** The `.onnx` bytes. */
  graph: Uint8Array;
  externalData?: ExternalDataFile[];
  device?: DeviceRequest;
  /** Default true (ORT's default): see {@link prepackOptions} for what `false` trades. */
  prepack?: boolean;
  /** Default `auto`: the JSPI build where the realm has JSPI (see {@link chooseWeights}). `copy`: the default build. */
  weights?: WeightsRequest;
  /** What the model needs from a GPU; read from `graph` when absent. */
  requirements?: ModelRequirements;
  /** Defaults to `detectCapabilities()`; tests inject their own. */
  capabilities?: Capabilities;
  signal?: AbortSignal;
  /**
   * WebGPU only: outputs ORT leaves in GPU buffers instead of reading them
   * back (a decoder's present.* KV cache, fed back with {@link OrtSession.runKeeping}).
   */
  gpuOutputs?: readonly string[];
}

export type { ValueInfo };

export interface RunOptions {
  signal?: AbortSignal;
}

/**
 * An output kept where ORT produced it (`gpu-buffer` on WebGPU, `cpu`
 * otherwise), to be fed back as an input without a copy through JS. Opaque:
 * only the session that made it reads it. Free it with `dispose()` once the
 * run it feeds has finished.
 */
export interface KeptTensor {
  readonly kept: true;
  readonly dims: readonly number[];
  /** ORT's `Tensor.location`: `gpu-buffer`, `cpu`, ... */
  readonly location: string;
  dispose(): void;
}

const ortTensorOf = new WeakMap<KeptTensor, Ort.Tensor>();

function keep(tensor: Ort.Tensor): KeptTensor {
  const kept: KeptTensor = { kept: true, dims: [...tensor.dims], location: tensor.location, dispose: () => tensor.dispose() };
  ortTensorOf.set(kept, tensor);
  return kept;
}

export interface OrtSession {
  readonly device: Device;
  /** Why this device: `webgpu: adapter google/swiftshader`, `wasm: navigator.gpu missing`, ... */
  readonly reason: string;
  /** `streamed` when ORT got Blobs and read them range by range; `copied` when it got (or read) whole files as bytes. */
  readonly weights: WeightPath;
  /** Why: `streamed: JSPI build ...`, `copied: no JSPI ...`, `copied: requested (weights: copy)`. */
  readonly weightsReason: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueInfo[];
  run(feeds: TensorMap, options?: RunOptions): Promise<TensorMap>;
  /**
   * Like run, but the outputs named in `keep` stay with ORT as {@link KeptTensor}s
   * (on the GPU when created with `gpuOutputs`), and feeds may be KeptTensors
   * from an earlier run. An abort is seen before the run starts, not during
   * it: the run's kept outputs must reach the caller to be freed.
   */
  runKeeping?(feeds: Record<string, TensorData | KeptTensor>, keep: readonly string[], options?: RunOptions): Promise<{ outputs: TensorMap; kept: Record<string, KeptTensor> }>;
  /** Frees the session's memory (wasm heap, GPU buffers). Runs after this fail with `session-closed`. */
  release(): Promise<void>;
}

const builds = new Map<OrtBuild, Promise<OrtModule>>();

/**
 * Imports a build once per realm and sets its global `env` before its first
 * session: ORT reads numThreads when it initialises its wasm module, so later
 * changes would be ignored anyway. The `.wasm`/`.mjs` files resolve next to
 * the build's module (Vite serves and bundles them from node_modules).
 */
function loadOrt(build: OrtBuild, capabilities: Capabilities): Promise<OrtModule> {
  let pending = builds.get(build);
  if (!pending) {
    pending = (build === 'jspi' ? (import('onnxruntime-web/jspi') as Promise<OrtModule>) : import('onnxruntime-web')).then((ort) => {
      ort.env.logLevel = 'error';
      // Threads need a cross-origin-isolated page; asking for more than one
      // without it makes ORT warn and fall back to one anyway.
      ort.env.wasm.numThreads = capabilities.wasm.threads
        ? Math.max(1, Math.min(4, Math.ceil(capabilities.hardwareConcurrency / 2)))
        : 1;
      // Tessera already runs sessions in its own worker; ORT's proxy worker would
      // add a second hop and a second copy of every tensor.
      ort.env.wasm.proxy = false;
      return ort;
    });
    pending.catch(() => builds.delete(build)); // a failed import may be retried
    builds.set(build, pending);
  }
  return pending;
}

/**
 * WebGPU runs are serialised across every session of this realm. ORT's WebGPU
 * backend drives one GPUDevice and one queue for all sessions; two
 * `session.run` calls in flight at once interleave their command submissions
 * and output read-backs (`mapAsync`) on that queue, which was observed to fail
 * ("buffer is already mapped"-style errors) or to thrash, taking longer than
 * running them in turn. One queue per realm = one queue per GPUDevice.
 */
let gpuQueue: SerialQueue | undefined;
/**
 * WebGPU session creations are serialised too: the JSPI build's WebGPU EP
 * registers its device for one creation at a time and fails a second one
 * started meanwhile ("another WebGPU EP inference session is being
 * created"). Runs keep their own queue, so a big model's creation never
 * waits behind another model's runs, nor they behind it.
 */
let gpuCreateQueue: SerialQueue | undefined;

/**
 * Creates a session on the device asked for. `auto` takes WebGPU when an
 * adapter exists whose features and limits fit the model, and falls back to
 * wasm (saying why) when there is none or when WebGPU session creation throws.
 * Weights are streamed from Blobs where the realm has JSPI, copied elsewhere
 * (see {@link chooseWeights}); the session says which and why.
 *
 * @example
 * const session = await createOrtSession({ graph, externalData: [{ path: 'model.onnx_data', data: blob }], device: 'auto' });
 * console.log(session.device, session.reason); // 'webgpu' 'webgpu: adapter google/swiftshader'
 * console.log(session.weights, session.weightsReason); // 'streamed' 'streamed: JSPI build reads initializers from the chunk Blobs'
 * const { y } = await session.run({ x: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } });
 */
export async function createOrtSession(options: OrtSessionOptions): Promise<OrtSession> {
  const { graph, externalData = [], device: requested = 'auto', signal, prepack = true } = options;
  if (!(graph instanceof Uint8Array) || graph.byteLength === 0) {
    throw new TesseraError('invalid-argument', 'createOrtSession needs the graph as a non-empty Uint8Array');
  }
  throwIfAborted(signal);
  const capabilities = options.capabilities ?? (await detectCapabilities());
  const weightChoice = chooseWeights(options.weights ?? 'auto', capabilities);
  const build: OrtBuild = weightChoice.weights === 'streamed' ? 'jspi' : 'default';
  const ort = await loadOrt(build, capabilities);
  const weights = weightsReport(weightChoice, externalData);
  const requirements = options.requirements ?? readModelRequirements(graph);
  const choice = chooseDevice(requested, capabilities, requirements);
  const wrap = (session: Ort.InferenceSession, device: Device, reason: string) =>
    wrapSession(ort, session, { device, reason, ...weights }, signal);

  if (choice.device === 'webgpu') {
    try {
      return wrap(await createInference(ort, graph, externalData, 'webgpu', prepack, options.gpuOutputs), 'webgpu', choice.reason);
    } catch (err) {
      if (isTesseraError(err, 'aborted') || requested === 'webgpu') {
        throw isTesseraError(err) ? err : backendError('WebGPU session creation failed', err);
      }
      // ORT's own words, without our "onnxruntime-web: ... failed" wrapper.
      const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
      const message = cause instanceof Error ? cause.message : String(cause);
      const session = await createInference(ort, graph, externalData, 'wasm', prepack);
      return wrap(session, 'wasm', `wasm: webgpu session creation failed: ${message}`);
    }
  }
  return wrap(await createInference(ort, graph, externalData, 'wasm', prepack), 'wasm', choice.reason);
}

/** What actually happens to the weights given this choice and these files. */
function weightsReport(choice: ReturnType<typeof chooseWeights>, externalData: ExternalDataFile[]): { weights: WeightPath; weightsReason: string } {
  if (choice.weights === 'copied') return { weights: 'copied', weightsReason: choice.reason };
  if (externalData.length === 0) return { weights: 'copied', weightsReason: 'copied: the weights are inside the graph (no external data)' };
  if (externalData.some((file) => !(file.data instanceof Blob))) {
    return { weights: 'copied', weightsReason: 'copied: external data was handed over as bytes' };
  }
  return { weights: 'streamed', weightsReason: choice.reason };
}

async function createInference(
  ort: OrtModule,
  graph: Uint8Array,
  externalData: ExternalDataFile[],
  device: Device,
  prepack: boolean,
  gpuOutputs: readonly string[] = [],
): Promise<Ort.InferenceSession> {
  // Streams ORT opens on the Blobs during this creation, held until it settles (see rootedBlob).
  const reading = new Set<unknown>();
  try {
    const create = () => ort.InferenceSession.create(graph, {
      executionProviders: [device],
      // A Blob is mounted as is by the JSPI build; the default build reads it into bytes.
      externalData: externalData.map(({ path, data }) => ({ path, data: (data instanceof Blob ? rootedBlob(data, reading) : data) as Uint8Array })),
      graphOptimizationLevel: 'all',
      ...prepackOptions(prepack),
      ...(gpuOutputs.length > 0 ? { preferredOutputLocation: Object.fromEntries(gpuOutputs.map((name) => [name, 'gpu-buffer' as const])) } : {}),
    });
    return await (device === 'webgpu' ? (gpuCreateQueue ??= createSerialQueue()).run(create) : create());
  } catch (err) {
    throw backendError(`${device} session creation failed`, err);
  } finally {
    reading.clear();
  }
}

interface SessionReport {
  device: Device;
  reason: string;
  weights: WeightPath;
  weightsReason: string;
}

/** Wraps a session; a creation that was aborted while ORT worked releases what it made. */
async function wrapSession(
  ort: OrtModule,
  session: Ort.InferenceSession,
  report: SessionReport,
  signal: AbortSignal | undefined,
): Promise<OrtSession> {
  if (signal?.aborted) {
    await session.release();
    throwIfAborted(signal);
  }
  const { device } = report;
  const queue = device === 'webgpu' ? (gpuQueue ??= createSerialQueue()) : createSerialQueue();
  let released = false;
  const inputNames = [...session.inputNames];
  const inputMetadata = session.inputMetadata.map(toValueInfo);

  return {
    ...report,
    inputNames,
    outputNames: [...session.outputNames],
    inputMetadata,
    async run(feeds, runOptions = {}) {
      const runSignal = runOptions.signal;
      throwIfAborted(runSignal);
      checkFeeds(feeds, inputNames);
      const ortFeeds: Record<string, Ort.Tensor> = {};
      // Each build checks `instanceof` its own Tensor class: feeds come from the session's build.
      for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(tensor.type, tensor.data as Ort.Tensor.DataType, tensor.dims);
      // wasm runs of one session are queued too: ORT rejects a second run of
      // a session while one is in flight.
      return withAbort(
        queue.run(async () => {
          if (released) throw closedError();
          throwIfAborted(runSignal); // aborted while it waited its turn
          let results: Ort.InferenceSession.OnnxValueMapType;
          try {
            results = await session.run(ortFeeds);
          } catch (err) {
            throw backendError('run failed', err);
          }
          const out: TensorMap = {};
          for (const [name, value] of Object.entries(results)) {
            out[name] = fromOrtTensor(name, value as Ort.Tensor);
            (value as Ort.Tensor).dispose();
          }
          return out;
        }),
        runSignal,
      );
    },
    async runKeeping(feeds, keepNames, runOptions = {}) {
      const plain: TensorMap = {};
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(feeds)) {
        const kept = ortTensorOf.get(tensor as KeptTensor);
        if (kept) ortFeeds[name] = kept;
        else plain[name] = tensor as TensorData;
      }
      checkFeeds(plain, inputNames, Object.keys(ortFeeds));
      for (const [name, tensor] of Object.entries(plain)) ortFeeds[name] = new ort.Tensor(tensor.type, tensor.data as Ort.Tensor.DataType, tensor.dims);
      return queue.run(async () => {
        if (released) throw closedError();
        throwIfAborted(runOptions.signal);
        let results: Ort.InferenceSession.OnnxValueMapType;
        try {
          results = await session.run(ortFeeds);
        } catch (err) {
          throw backendError('run failed', err);
        }
        const outputs: TensorMap = {};
        const kept: Record<string, KeptTensor> = {};
        for (const [name, value] of Object.entries(results)) {
          const tensor = value as Ort.Tensor;
          if (keepNames.includes(name)) {
            kept[name] = keep(tensor);
            continue;
          }
          // An output left on the GPU that the caller wants as data is read back here.
          if (tensor.location !== 'cpu' && tensor.location !== 'none') await tensor.getData();
          outputs[name] = fromOrtTensor(name, tensor);
          tensor.dispose();
        }
        return { outputs, kept };
      });
    },
    async release() {
      if (released) return;
      released = true;
      // Wait for queued runs of this session so release never pulls buffers from under one.
      await queue.run(() => session.release());
    },
  };
}


function backendError(what: string, err: unknown): TesseraError {
  if (isTesseraError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TesseraError('backend-error', `onnxruntime-web: ${what}: ${message}`, { cause: err });
}
