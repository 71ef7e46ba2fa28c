/**
 * The page side of `npm run bench:hf`. Each function is one measured way to
 * get a feature-extraction pipeline ready and run it once; all times are
 * taken here with performance.now(), the Node harness only drives and counts
 * server bytes.
 *
 * - plain: transformers.js as its users write it, on this page's thread, with
 *   its own Cache API caching (`env.useBrowserCache`), fetching from the local
 *   hub look-alike (`env.remoteHost`). Its ORT wasm comes from this origin, as
 *   Tessera's does, so both pay the same wasm cost.
 * - tessera: `pipeline(...)` with the repository URL as source, in its Web
 *   Worker, IndexedDB.
 * Both run on wasm (WebGPU on SwiftShader measures a CPU emulation).
 */
import { env, pipeline as hfPipeline } from '@huggingface/transformers';
import { createIdbCache } from '../../src/cache/idb-cache.ts';
import { transformersWasmPaths } from '../../src/backend/transformers-wasm-paths.ts';
import { pipeline } from '../../src/transport/hf-pipeline.ts';
import { loadHfFile } from '../../src/fetch/hf-file.ts';
import { rootedBlob } from '../../src/backend/rooted-blob.ts';
import { blobSource, splitInlineWeights } from '../../src/pack/split-inline-weights.ts';

const TEXT = 'tessera loads model weights fast';
const CALL = { pooling: 'mean', normalize: true } as const;

const bench = {
  /** Plain transformers.js; with `signalAt`, resolves once the weights are that far along (the harness then leaves the page). */
  async plain(hubUrl: string, modelId: string, options: { signalAt?: number } = {}) {
    env.remoteHost = `${hubUrl}/`;
    env.allowRemoteModels = true;
    env.allowLocalModels = false;
    env.useBrowserCache = true;
    (env.backends.onnx.wasm as { wasmPaths?: unknown }).wasmPaths = transformersWasmPaths();
    const t0 = performance.now();
    if (options.signalAt !== undefined) {
      const at = options.signalAt;
      return new Promise<{ reachedMs: number }>((resolve, reject) => {
        hfPipeline('feature-extraction', modelId, {
          device: 'wasm',
          dtype: 'fp32',
          progress_callback: (p: { status: string; file?: string; loaded?: number; total?: number }) => {
            if (p.status === 'progress' && p.file?.endsWith('.onnx') && p.loaded !== undefined && p.total && p.loaded >= p.total * at) resolve({ reachedMs: performance.now() - t0 });
          },
        }).catch(reject);
      });
    }
    const pipe = await hfPipeline('feature-extraction', modelId, { device: 'wasm', dtype: 'fp32' });
    const t1 = performance.now();
    const out = await pipe(TEXT, CALL);
    const t2 = performance.now();
    await pipe.dispose();
    return { readyMs: t1 - t0, totalMs: t2 - t0, dims: [...out.dims] };
  },

  /** Tessera; with `abortAt`, aborts once that fraction of `totalBytes` came from the network. */
  async tessera(hubUrl: string, modelId: string, options: { abortAt?: number; totalBytes?: number; worker?: boolean; prepack?: boolean } = {}) {
    const controller = new AbortController();
    const t0 = performance.now();
    try {
      const pipe = await pipeline('feature-extraction', modelId, {
        source: hubUrl,
        device: 'wasm',
        cache: { type: 'indexeddb' },
        ...(options.worker === false ? { worker: false } : {}),
        ...(options.prepack === false ? { prepack: false } : {}),
        signal: controller.signal,
        onProgress: (p) => {
          if (options.abortAt !== undefined && p.bytesFromNetwork >= (options.totalBytes ?? 0) * options.abortAt) controller.abort();
        },
      });
      const t1 = performance.now();
      const out = await pipe(TEXT, CALL);
      const t2 = performance.now();
      const { stats, weights, weightsReason } = pipe;
      await pipe.dispose();
      return { readyMs: t1 - t0, totalMs: t2 - t0, dims: out.dims, aborted: false, stats, weights, weightsReason };
    } catch (error) {
      if ((error as { code?: string }).code !== 'aborted') throw error;
      return { readyMs: 0, totalMs: performance.now() - t0, dims: [], aborted: true, stats: undefined };
    }
  },

  /** Breakdown: Tessera's loader alone (no transformers.js), file by file, on this thread. */
  async loaderOnly(hubUrl: string, modelId: string) {
    const repo = `${hubUrl}/${modelId}/resolve/main/`;
    const cache = createIdbCache();
    const times: Record<string, number> = {};
    const t0 = performance.now();
    for (const path of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      const t = performance.now();
      await loadHfFile(repo, path, { cache });
      times[path] = performance.now() - t;
    }
    return { totalMs: performance.now() - t0, times };
  },

  /** Breakdown: ORT alone (transformers.js's build) creating a session from the model's bytes with the given options. */
  async ortProbe(hubUrl: string, modelId: string, sessionOptions: Record<string, unknown>) {
    const ort = await import('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs' as string);
    ort.env.wasm.wasmPaths = transformersWasmPaths();
    const t0 = performance.now();
    const bytes = new Uint8Array(await (await fetch(`${hubUrl}/${modelId}/resolve/main/onnx/model.onnx`)).arrayBuffer());
    const t1 = performance.now();
    const tiny = sessionOptions.warmFirst ? await ort.InferenceSession.create(bytes.subarray(0, 0)).catch(() => undefined) : undefined;
    const t2 = performance.now();
    const { warmFirst: _, ...opts } = sessionOptions;
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], ...opts });
    const t3 = performance.now();
    const feeds: Record<string, unknown> = {};
    for (const name of session.inputNames as string[]) feeds[name] = new ort.Tensor('int64', BigInt64Array.from({ length: 16 }, (_, i) => (name.includes('mask') ? 1n : name.includes('type') ? 0n : BigInt(i % 7))), [1, 16]);
    const runs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r0 = performance.now();
      await session.run(feeds);
      runs.push(Math.round(performance.now() - r0));
    }
    await session.release();
    void tiny;
    return { fetchMs: Math.round(t1 - t0), warmMs: Math.round(t2 - t1), createMs: Math.round(t3 - t2), runs };
  },

  /**
   * Breakdown: ORT (transformers.js's build) creating the encoder's session
   * from Tessera's cached model.onnx: `asyncify-bytes` as transformers.js
   * does (the whole file as bytes, its default build), `jspi-bytes` the same
   * on the JSPI build, `jspi-split` the graph split from its inline weights
   * with the cached file's Blob as their external data, `jspi-split-bytes`
   * the same with the file read into memory before creation.
   */
  async splitProbe(hubUrl: string, modelId: string, mode: 'asyncify-bytes' | 'jspi-bytes' | 'jspi-split' | 'jspi-split-bytes') {
    const jspi = mode !== 'asyncify-bytes';
    const ort = jspi ? await import('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort.jspi.bundle.min.mjs' as string) : await import('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs' as string);
    ort.env.wasm.wasmPaths = jspi
      ? {
          wasm: new URL('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jspi.wasm', import.meta.url).href,
          mjs: new URL('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jspi.mjs', import.meta.url).href,
        }
      : transformersWasmPaths();
    await ort.InferenceSession.create(new Uint8Array(0)).catch(() => undefined); // ORT's wasm started, as the pipeline's head start does
    const cache = createIdbCache();
    const manifest = await cache.getManifest(`hf:${hubUrl}/${modelId}/resolve/main/`, 'file:onnx/model.onnx');
    if (!manifest) throw new Error('not cached');
    const t0 = performance.now();
    const file = new Blob(await Promise.all(manifest.files[0]!.chunks.map(async (h) => (await cache.getChunkBlob!(h))!)));
    let graph: Uint8Array;
    let externalData: { path: string; data: Blob | Uint8Array }[] = [];
    if (mode === 'jspi-split' || mode === 'jspi-split-bytes') {
      const split = await splitInlineWeights(blobSource(file), { location: 'model.onnx' });
      graph = split.graph;
      // jspi-split-bytes: the same split with its file read into memory first (what reading the Blob costs inside creation).
      externalData = [{ path: 'model.onnx', data: mode === 'jspi-split' ? file : new Uint8Array(await file.arrayBuffer()) }];
    } else graph = new Uint8Array(await file.arrayBuffer());
    const t1 = performance.now();
    const reading = new Set<unknown>();
    const session = await ort.InferenceSession.create(graph, { executionProviders: ['wasm'], externalData: externalData.map((e) => ({ path: e.path, data: e.data instanceof Blob ? rootedBlob(e.data, reading) : e.data })) });
    reading.clear();
    const t2 = performance.now();
    await session.release();
    return { mode, readMs: Math.round(t1 - t0), createMs: Math.round(t2 - t1), graphBytes: graph.byteLength };
  },

  /** Breakdown: the model file out of transformers.js's Cache API entry, as its warm load reads it. */
  async cacheApiRead(hubUrl: string, modelId: string) {
    const t0 = performance.now();
    const url = `${hubUrl}/${modelId}/resolve/main/onnx/model.onnx`;
    for (const name of await caches.keys()) {
      const hit = await (await caches.open(name)).match(url);
      if (hit) {
        const bytes = await hit.arrayBuffer();
        return { cache: name, bytes: bytes.byteLength, ms: Math.round(performance.now() - t0) };
      }
    }
    throw new Error(`${url} is not in any Cache API cache`);
  },

  /** Breakdown: the weights' chunks out of IndexedDB at a given concurrency, into one buffer. */
  async idbProbe(hubUrl: string, modelId: string, concurrency: number) {
    const cache = createIdbCache();
    const manifest = await cache.getManifest(`hf:${hubUrl}/${modelId}/resolve/main/`, 'file:onnx/model.onnx');
    if (!manifest) throw new Error('not cached');
    const file = manifest.files[0]!;
    const buffer = new Uint8Array(file.size);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < file.chunks.length; i = next++) buffer.set((await cache.getChunk(file.chunks[i]!))!, i * manifest.chunkSize);
    }));
    return Math.round(performance.now() - t0);
  },

  /** Forget everything both sides cached: Tessera's IndexedDB and transformers.js's Cache API (weights and ORT's wasm). */
  async clearAll() {
    await createIdbCache().clear();
    for (const name of await caches.keys()) await caches.delete(name);
  },
};

(globalThis as unknown as { bench: typeof bench }).bench = bench;
document.getElementById('status')!.textContent = 'ready';
