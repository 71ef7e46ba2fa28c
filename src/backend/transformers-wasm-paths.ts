/**
 * Where the onnxruntime-web that transformers.js bundles finds its wasm, on
 * this app's own origin. Left alone, transformers.js points
 * `env.backends.onnx.wasm.wasmPaths` at cdn.jsdelivr.net, which an offline
 * machine, a locked-down CSP or an intranet cannot reach.
 *
 * transformers.js 4 depends on its own onnxruntime-web (a 1.31 dev build,
 * nested under its node_modules, not the project's 1.30), and the JS glue and
 * the binary must be of the same build: so the files are taken from there.
 * Both its WebGPU and its wasm paths use the `asyncify` build (the bundle it
 * imports, `onnxruntime-web/webgpu`, names only that one); where Tessera gives
 * it the JSPI build of the same version (streamed weights,
 * src/backend/transformers.ts), that build's `jspi` files.
 *
 * `new URL(literal, import.meta.url)` is the form Vite understands: in a
 * build it copies the file into the output and rewrites the URL; under the
 * dev server the URL resolves to the file in node_modules.
 */

/** wasm and mjs URLs for `env.backends.onnx.wasm.wasmPaths`. */
export interface TransformersWasmPaths {
  wasm: string;
  mjs: string;
}

/**
 * @example
 * const paths = transformersWasmPaths(); // { wasm: 'http://localhost:5173/assets/ort-wasm-simd-threaded.asyncify-abc.wasm', mjs: ... }
 */
export function transformersWasmPaths(build: 'asyncify' | 'jspi' = 'asyncify'): TransformersWasmPaths {
  if (build === 'jspi') {
    return {
      wasm: new URL('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jspi.wasm', import.meta.url).href,
      mjs: new URL('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jspi.mjs', import.meta.url).href,
    };
  }
  return {
    wasm: new URL('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm', import.meta.url).href,
    mjs: new URL('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs', import.meta.url).href,
  };
}
