/**
 * ONNX Runtime for Node (onnxruntime-node) behind the same session interface
 * as src/backend/ort.ts: native CPU, or a GPU provider where the installed
 * build has one. The only module that imports onnxruntime-node, and only by
 * dynamic import when the first native session is made, so nothing that merely
 * imports this file (or a browser bundle) loads the native binding.
 *
 * Weights: the loader hands whole files as Uint8Arrays (the fs cache stores
 * content-addressed chunks, not the pack's files, so there is no file path to
 * give ORT). The binding takes graph and external-data buffers as they are
 * (`loadModel(buffer, offset, length)`, `externalData: [{ path, data }]`): no
 * copy is made on the JS side.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import type * as OrtNode from 'onnxruntime-node';
import { TesseraError, isTesseraError, throwIfAborted } from '../errors.ts';
import type { NativeDevice } from '../protocol/device.ts';
import type { TensorData, TensorMap } from '../protocol/tensor.ts';
import { chooseNativeDevice, nativeReason, unavailable, type NativeProviders } from './choose-native-device.ts';

export { chooseNativeDevice };
import type { ExternalDataFile, OrtSession, RunOptions } from './ort.ts';
import { checkFeeds, closedError, fromOrtTensor, toValueInfo, withAbort, type OrtValueMetadataLike } from './ort-values.ts';
import { prepackOptions } from './prepack-options.ts';
import { createSerialQueue } from './serial-queue.ts';

type OrtNodeModule = typeof OrtNode;

export interface OrtNodeSessionOptions {
  graph: Uint8Array;
  externalData?: ExternalDataFile[];
  /** Default `auto`: the best installed provider (a GPU one, else `cpu`). */
  device?: NativeDevice | 'auto';
  /** Intra-op threads. Default: `os.availableParallelism()`. */
  threads?: number;
  /** Default true (ORT's default): see src/backend/prepack-options.ts. */
  prepack?: boolean;
  /** Defaults to {@link detectNativeProviders}; tests inject their own. */
  providers?: NativeProviders;
  signal?: AbortSignal;
}

let ortPromise: Promise<OrtNodeModule> | undefined;
let providersPromise: Promise<NativeProviders> | undefined;

/** onnxruntime-node, loaded once on first use (never at import time). */
function loadOrtNode(): Promise<OrtNodeModule> {
  ortPromise ??= import('onnxruntime-node').then((m) => {
    const ort = ((m as { default?: OrtNodeModule }).default ?? m) as OrtNodeModule;
    ort.env.logLevel = 'error';
    return ort;
  }).catch((cause: unknown) => {
    ortPromise = undefined;
    throw new TesseraError('device-unavailable', `onnxruntime-node could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); run \`npm install\`, or use device 'wasm'`, { cause });
  });
  return ortPromise;
}

/** ORT's backend names -> Tessera's devices (ORT also lists e.g. `webgpu`, `tensorrt`, which Tessera does not offer in Node). */
const ORT_NAMES: Record<string, NativeDevice> = { cpu: 'cpu', cuda: 'cuda', dml: 'dml', coreml: 'coreml' };

/**
 * What the installed onnxruntime-node can run on here, detected once.
 * `listSupportedBackends()` names the providers the build was compiled with;
 * one marked not `bundled` (CUDA on Linux x64) needs a library its install
 * script downloads, which `.npmrc`'s `onnxruntime-node-install=skip` skips:
 * it counts as installed only when that library is next to the binding.
 *
 * @example
 * const { version, installed } = await detectNativeProviders(); // '1.30.0', ['cpu']
 */
export function detectNativeProviders(): Promise<NativeProviders> {
  providersPromise ??= loadOrtNode().then((ort) => {
    const version = ort.env.versions.node ?? ort.env.versions.common;
    const platform = `${process.platform}/${process.arch}`;
    const binDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
    const installed: NativeDevice[] = [];
    const missing: NativeProviders['missing'] = [];
    for (const { name, bundled } of ort.listSupportedBackends()) {
      const device = ORT_NAMES[name];
      if (!device) continue;
      if (bundled) {
        installed.push(device);
        continue;
      }
      const lib = process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`;
      if (existsSync(join(binDir, lib))) installed.push(device);
      else missing.push({ device, why: `${lib} is not installed` });
    }
    if (!installed.includes('cpu')) installed.unshift('cpu');
    return { version, platform, installed, missing };
  });
  return providersPromise;
}

/** @example defaultThreads(); // 2 on a 2-core machine */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Creates a native session. An explicitly requested device that is not
 * installed fails with `device-unavailable` naming what is; under `auto` a GPU
 * provider whose session creation fails (e.g. CUDA libraries missing from the
 * system) falls back to `cpu`, saying why.
 *
 * @example
 * const session = await createOrtNodeSession({ graph, externalData, device: 'auto' });
 * console.log(session.device, session.reason); // 'cpu' 'cpu: onnxruntime-node 1.30.0, 2 threads'
 */
export async function createOrtNodeSession(options: OrtNodeSessionOptions): Promise<OrtSession> {
  const { graph, externalData = [], device: requested = 'auto', signal, prepack = true } = options;
  if (!(graph instanceof Uint8Array) || graph.byteLength === 0) {
    throw new TesseraError('invalid-argument', 'createOrtNodeSession needs the graph as a non-empty Uint8Array');
  }
  const threads = options.threads ?? defaultThreads();
  if (!Number.isSafeInteger(threads) || threads < 1) throw new TesseraError('invalid-argument', `threads must be a positive integer, got ${threads}`);
  throwIfAborted(signal);
  const ort = await loadOrtNode();
  const providers = options.providers ?? (await detectNativeProviders());
  const choice = chooseNativeDevice(requested, providers, threads);
  const create = (device: NativeDevice) => createInference(ort, graph, externalData, device, threads, prepack);
  let session: OrtNode.InferenceSession;
  let device = choice.device;
  let reason = choice.reason;
  try {
    session = await create(device);
  } catch (err) {
    if (device === 'cpu') throw backendError('cpu session creation failed', err);
    if (requested !== 'auto') throw unavailable(device, providers, err);
    const message = err instanceof Error ? err.message : String(err);
    device = 'cpu';
    reason = `${nativeReason('cpu', providers, threads, undefined)} (${choice.device} session creation failed: ${message})`;
    try {
      session = await create('cpu');
    } catch (cpuErr) {
      throw backendError('cpu session creation failed', cpuErr);
    }
  }
  if (signal?.aborted) {
    await session.release();
    throwIfAborted(signal);
  }
  return wrapSession(ort, session, device, reason);
}

async function createInference(
  ort: OrtNodeModule, graph: Uint8Array, externalData: ExternalDataFile[], device: NativeDevice, threads: number, prepack: boolean,
): Promise<OrtNode.InferenceSession> {
  return ort.InferenceSession.create(graph, {
    executionProviders: [device],
    intraOpNumThreads: threads,
    // One batch at a time per session; a second pool of inter-op threads would only compete with the first.
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    externalData: externalData.map(({ path, data }) => ({ path, data })),
    ...prepackOptions(prepack),
  });
}

/**
 * No `runKeeping` here, so a decoder's KV cache comes back to JS each step
 * (one copy). onnxruntime-node 1.30 cannot do better on its CPU provider: its
 * binding copies every fetched CPU output into a fresh ArrayBuffer
 * (`OrtValueToNapiValue`), a preallocated output too (checked: ORT fills the
 * tensor passed in `fetches`, and `run` still returns a copy in another
 * buffer), and it offers no CPU IO binding. Measured on a 6-layer decoder,
 * double-buffered preallocated `present.*` outputs gave the same tokens and no
 * faster decode (19-27 against 19-26 tokens/s, on a loaded 2-core machine).
 * Only its WebGPU provider's outputs can stay native (`gpu-buffer`).
 */
function wrapSession(ort: OrtNodeModule, session: OrtNode.InferenceSession, device: NativeDevice, reason: string): OrtSession {
  // onnxruntime-node rejects a run while another of the same session is in flight, as onnxruntime-web does.
  const queue = createSerialQueue();
  let released = false;
  const inputNames = [...session.inputNames];
  return {
    device,
    reason,
    // See the module comment: whole files as bytes, which the binding takes without a JS copy.
    weights: 'copied',
    weightsReason: 'copied: onnxruntime-node takes each external-data file as one buffer',
    inputNames,
    outputNames: [...session.outputNames],
    inputMetadata: session.inputMetadata.map((m) => toValueInfo(m as OrtValueMetadataLike)),
    async run(feeds: TensorMap, runOptions: RunOptions = {}) {
      const runSignal = runOptions.signal;
      throwIfAborted(runSignal);
      checkFeeds(feeds, inputNames);
      const ortFeeds: Record<string, OrtNode.Tensor> = {};
      for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(ort, tensor);
      return withAbort(
        queue.run(async () => {
          if (released) throw closedError();
          throwIfAborted(runSignal);
          let results: OrtNode.InferenceSession.OnnxValueMapType;
          try {
            results = await session.run(ortFeeds);
          } catch (err) {
            throw backendError('run failed', err);
          }
          const out: TensorMap = {};
          for (const [name, value] of Object.entries(results)) out[name] = fromOrtTensor(name, value as OrtNode.Tensor);
          return out;
        }),
        runSignal,
      );
    },
    async release() {
      if (released) return;
      released = true;
      await queue.run(() => session.release());
    },
  };
}

function toOrtTensor(ort: OrtNodeModule, tensor: TensorData): OrtNode.Tensor {
  return new ort.Tensor(tensor.type, tensor.data as OrtNode.Tensor.DataType, tensor.dims);
}

function backendError(what: string, err: unknown): TesseraError {
  if (isTesseraError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TesseraError('backend-error', `onnxruntime-node: ${what}: ${message}`, { cause: err });
}
