/**
 * How weights reach ONNX Runtime, as a pure function of what was asked for
 * and what the runtime offers (like chooseDevice), so the rule is tested
 * without a browser and the engine knows before loading whether to ask the
 * loader for Blobs or for bytes.
 */
import type { Capabilities } from '../env.ts';
import type { WeightPath, WeightsRequest } from '../protocol/device.ts';

export type { WeightPath, WeightsRequest };

export interface WeightsChoice {
  weights: WeightPath;
  /** Why, for people: `streamed: JSPI build reads initializers from the chunk Blobs`, `copied: no JSPI ...`. */
  reason: string;
}

/**
 * Streamed needs a browser realm (window or worker: onnxruntime-web's node
 * build has no Blob mount) with JSPI: only onnxruntime-web's JSPI build mounts
 * an external-data Blob instead of reading it into one Uint8Array
 * (`mountExternalData(path, blob)` in dist/ort.jspi.mjs; onnxruntime PR #29477).
 *
 * @example
 * chooseWeights('auto', caps); // { weights: 'streamed', reason: 'streamed: JSPI build reads initializers from the chunk Blobs' }
 * chooseWeights('copy', caps); // { weights: 'copied', reason: 'copied: requested (weights: copy)' }
 */
export function chooseWeights(requested: WeightsRequest, capabilities: Pick<Capabilities, 'runtime' | 'wasm'>): WeightsChoice {
  if (requested === 'copy') return { weights: 'copied', reason: 'copied: requested (weights: copy)' };
  const { runtime } = capabilities;
  if (runtime === 'node' || runtime === 'workerd') {
    return { weights: 'copied', reason: `copied: ${runtime} runs onnxruntime-web's node build, which takes external data as bytes` };
  }
  if (!capabilities.wasm.jspi) {
    return { weights: 'copied', reason: "copied: no JSPI (WebAssembly.Suspending missing), so onnxruntime-web's default build reads each external-data file into one Uint8Array" };
  }
  return { weights: 'streamed', reason: 'streamed: JSPI build reads initializers from the chunk Blobs' };
}
