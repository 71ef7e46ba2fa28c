/**
 * ONNX Runtime session options for weight prepacking, shared by every place
 * that creates a session (raw ORT sessions and transformers.js pipelines).
 *
 * With prepacking (ORT's default) the CPU kernels repack MatMul/Gemm weights
 * when the session is created; without it the session is ready sooner and the
 * wasm heap holds no second copy of the weights, at some speed on multi-row
 * inputs. Measured on a 512 MiB MatMul chain in onnxruntime-web 1.30:
 * creation 0.68 s instead of 1.35-1.78 s and 380 MiB less memory; calls with
 * 1 row 25 ms instead of 33 ms, with 64 rows 805 ms instead of 695 ms.
 * WebGPU never prepacks, so there the option changes nothing.
 *
 * @example
 * await ort.InferenceSession.create(graph, { executionProviders: ['wasm'], ...prepackOptions(false) });
 */
export function prepackOptions(prepack: boolean): { extra?: { session: { disable_prepacking: '1' } } } {
  return prepack ? {} : { extra: { session: { disable_prepacking: '1' } } };
}
