/**
 * ONNX Runtime Web behind Tessera's session interface. The only module that
 * imports onnxruntime-web: the rest of Tessera sees plain TensorData in and
 * out, a device and the reason it was chosen.
 *
 * In browsers the default export of onnxruntime-web is the JSEP build (WebGPU
 * + wasm); under Node it resolves to the package's node build, which runs the
 * same wasm backend in-process (checked with Node 22).
 */
import * as ort from 'onnxruntime-web';
import { TesseraError, isTesseraError, throwIfAborted } from '../errors.ts';
import { detectCapabilities, type Capabilities } from '../env.ts';
import type { ValueInfo } from '../protocol/device.ts';
import type { TensorData, TensorMap } from '../protocol/tensor.ts';
import { chooseDevice, type Device, type DeviceRequest } from './choose-device.ts';
import { readModelRequirements, type ModelRequirements } from './model-requirements.ts';
import { createSerialQueue, type SerialQueue } from './serial-queue.ts';
import { prepackOptions } from './prepack-options.ts';
import { checkFeeds, closedError, fromOrtTensor, toValueInfo, withAbort } from './ort-values.ts';

export interface ExternalDataFile {
  /** The path as written in the graph's initializer `location` fields. */
  path: string;
  data: Uint8Array;
}

export interface OrtSessionOptions {
  /** The `.onnx` bytes. */
  graph: Uint8Array;
  externalData?: ExternalDataFile[];
  device?: DeviceRequest;
  /** Default true (ORT's default): see {@link prepackOptions} for what `false` trades. */
  prepack?: boolean;
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

const ortTensorOf = new WeakMap<KeptTensor, ort.Tensor>();

function keep(tensor: ort.Tensor): KeptTensor {
  const kept: KeptTensor = { kept: true, dims: [...tensor.dims], location: tensor.location, dispose: () => tensor.dispose() };
  ortTensorOf.set(kept, tensor);
  return kept;
}

export interface OrtSession {
  readonly device: Device;
  /** Why this device: `webgpu: adapter google/swiftshader`, `wasm: navigator.gpu missing`, ... */
  readonly reason: string;
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

let configured = false;

/**
 * Sets onnxruntime-web's global `env` once, before the first session: ORT
 * reads numThreads when it initialises its wasm module, so later changes
 * would be ignored anyway. The `.wasm`/`.mjs` files resolve next to
 * onnxruntime-web's module (Vite serves and bundles them from node_modules).
 */
function configureOrt(capabilities: Capabilities): void {
  if (configured) return;
  configured = true;
  ort.env.logLevel = 'error';
  // Threads need a cross-origin-isolated page; asking for more than one
  // without it makes ORT warn and fall back to one anyway.
  ort.env.wasm.numThreads = capabilities.wasm.threads
    ? Math.max(1, Math.min(4, Math.ceil(capabilities.hardwareConcurrency / 2)))
    : 1;
  // Tessera already runs sessions in its own worker; ORT's proxy worker would
  // add a second hop and a second copy of every tensor.
  ort.env.wasm.proxy = false;
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
 * Creates a session on the device asked for. `auto` takes WebGPU when an
 * adapter exists whose features and limits fit the model, and falls back to
 * wasm (saying why) when there is none or when WebGPU session creation throws.
 *
 * @example
 * const session = await createOrtSession({ graph, externalData: [{ path: 'model.onnx_data', data }], device: 'auto' });
 * console.log(session.device, session.reason); // 'webgpu' 'webgpu: adapter google/swiftshader'
 * const { y } = await session.run({ x: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } });
 */
export async function createOrtSession(options: OrtSessionOptions): Promise<OrtSession> {
  const { graph, externalData = [], device: requested = 'auto', signal, prepack = true } = options;
  if (!(graph instanceof Uint8Array) || graph.byteLength === 0) {
    throw new TesseraError('invalid-argument', 'createOrtSession needs the graph as a non-empty Uint8Array');
  }
  throwIfAborted(signal);
  const capabilities = options.capabilities ?? (await detectCapabilities());
  configureOrt(capabilities);
  const requirements = options.requirements ?? readModelRequirements(graph);
  const choice = chooseDevice(requested, capabilities, requirements);

  if (choice.device === 'webgpu') {
    try {
      const session = await createInference(graph, externalData, 'webgpu', prepack, options.gpuOutputs);
      return wrapSession(session, 'webgpu', choice.reason, signal);
    } catch (err) {
      if (isTesseraError(err, 'aborted') || requested === 'webgpu') {
        throw isTesseraError(err) ? err : backendError('WebGPU session creation failed', err);
      }
      // ORT's own words, without our "onnxruntime-web: ... failed" wrapper.
      const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
      const message = cause instanceof Error ? cause.message : String(cause);
      const session = await createInference(graph, externalData, 'wasm', prepack);
      return wrapSession(session, 'wasm', `wasm: webgpu session creation failed: ${message}`, signal);
    }
  }
  const session = await createInference(graph, externalData, 'wasm', prepack);
  return wrapSession(session, 'wasm', choice.reason, signal);
}

async function createInference(
  graph: Uint8Array,
  externalData: ExternalDataFile[],
  device: Device,
  prepack: boolean,
  gpuOutputs: readonly string[] = [],
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(graph, {
      executionProviders: [device],
      externalData: externalData.map(({ path, data }) => ({ path, data })),
      graphOptimizationLevel: 'all',
      ...prepackOptions(prepack),
      ...(gpuOutputs.length > 0 ? { preferredOutputLocation: Object.fromEntries(gpuOutputs.map((name) => [name, 'gpu-buffer' as const])) } : {}),
    });
  } catch (err) {
    throw backendError(`${device} session creation failed`, err);
  }
}

/** Wraps a session; a creation that was aborted while ORT worked releases what it made. */
async function wrapSession(
  session: ort.InferenceSession,
  device: Device,
  reason: string,
  signal: AbortSignal | undefined,
): Promise<OrtSession> {
  if (signal?.aborted) {
    await session.release();
    throwIfAborted(signal);
  }
  const queue = device === 'webgpu' ? (gpuQueue ??= createSerialQueue()) : createSerialQueue();
  let released = false;
  const inputNames = [...session.inputNames];
  const inputMetadata = session.inputMetadata.map(toValueInfo);

  return {
    device,
    reason,
    inputNames,
    outputNames: [...session.outputNames],
    inputMetadata,
    async run(feeds, runOptions = {}) {
      const runSignal = runOptions.signal;
      throwIfAborted(runSignal);
      checkFeeds(feeds, inputNames);
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(tensor);
      // wasm runs of one session are queued too: ORT rejects a second run of
      // a session while one is in flight.
      return withAbort(
        queue.run(async () => {
          if (released) throw closedError();
          throwIfAborted(runSignal); // aborted while it waited its turn
          let results: ort.InferenceSession.OnnxValueMapType;
          try {
            results = await session.run(ortFeeds);
          } catch (err) {
            throw backendError('run failed', err);
          }
          const out: TensorMap = {};
          for (const [name, value] of Object.entries(results)) {
            out[name] = fromOrtTensor(name, value as ort.Tensor);
            (value as ort.Tensor).dispose();
          }
          return out;
        }),
        runSignal,
      );
    },
    async runKeeping(feeds, keepNames, runOptions = {}) {
      const plain: TensorMap = {};
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(feeds)) {
        const kept = ortTensorOf.get(tensor as KeptTensor);
        if (kept) ortFeeds[name] = kept;
        else plain[name] = tensor as TensorData;
      }
      checkFeeds(plain, inputNames, Object.keys(ortFeeds));
      for (const [name, tensor] of Object.entries(plain)) ortFeeds[name] = toOrtTensor(tensor);
      return queue.run(async () => {
        if (released) throw closedError();
        throwIfAborted(runOptions.signal);
        let results: ort.InferenceSession.OnnxValueMapType;
        try {
          results = await session.run(ortFeeds);
        } catch (err) {
          throw backendError('run failed', err);
        }
        const outputs: TensorMap = {};
        const kept: Record<string, KeptTensor> = {};
        for (const [name, value] of Object.entries(results)) {
          const tensor = value as ort.Tensor;
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

function toOrtTensor(tensor: TensorData): ort.Tensor {
  return new ort.Tensor(tensor.type, tensor.data as ort.Tensor.DataType, tensor.dims);
}

function backendError(what: string, err: unknown): TesseraError {
  if (isTesseraError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TesseraError('backend-error', `onnxruntime-web: ${what}: ${message}`, { cause: err });
}
