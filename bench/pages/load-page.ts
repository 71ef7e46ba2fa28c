/**
 * The page side of `npm run bench:load`. Each function is one measured
 * strategy; the Node harness calls them through Playwright and times nothing
 * itself (all times are taken here with performance.now()).
 *
 * Sessions use the wasm execution provider unless the harness passes
 * `--device webgpu`: WebGPU on SwiftShader is a CPU emulation whose upload
 * speed says nothing about real GPUs, so its times are not the product's; its
 * renderer memory is (the weights leave the renderer for GPU buffers).
 */
import * as ort from 'onnxruntime-web';
import { prepackOptions } from '../../src/backend/prepack-options.ts';
import { createEngine } from '../../src/transport/create-engine.ts';
import { createIdbCache } from '../../src/cache/idb-cache.ts';
import { loadPack } from '../../src/fetch/load-pack.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';

ort.env.wasm.numThreads = 1; // the page is not cross-origin isolated; match the engine worker

async function getManifest(url: string): Promise<PackManifest> {
  const res = await fetch(url, { cache: 'no-store' });
  return (await res.json()) as PackManifest;
}

function fileUrl(manifestUrl: string, path: string): string {
  return new URL(path, manifestUrl).href;
}

/** Parallel single-range GETs of every chunk straight into one buffer per file. */
async function fetchAllRanged(manifestUrl: string, manifest: PackManifest, concurrency: number): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const jobs: Array<{ path: string; start: number; end: number }> = [];
  for (const file of manifest.files) {
    files.set(file.path, new Uint8Array(file.size));
    for (let start = 0; start < file.size; start += manifest.chunkSize) {
      jobs.push({ path: file.path, start, end: Math.min(file.size, start + manifest.chunkSize) - 1 });
    }
  }
  let next = 0;
  async function worker(): Promise<void> {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const res = await fetch(fileUrl(manifestUrl, job.path), { headers: { Range: `bytes=${job.start}-${job.end}` } });
      if (res.status !== 206) throw new Error(`expected 206, got ${res.status}`);
      files.get(job.path)!.set(new Uint8Array(await res.arrayBuffer()), job.start);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return files;
}

function graphOf(manifest: PackManifest) {
  const graph = manifest.graphs[0]!;
  return { graph: graph.path, externalData: graph.externalData };
}

let cycleEngine: Awaited<ReturnType<typeof createEngine>> | undefined;

const bench = {
  /** The physical limit: parallel ranged fetch into memory, then a session from those bytes, with the same session options Tessera used. */
  async limit(manifestUrl: string, concurrency: number, prepack = true, device: 'wasm' | 'webgpu' = 'wasm') {
    const t0 = performance.now();
    const manifest = await getManifest(manifestUrl);
    const files = await fetchAllRanged(manifestUrl, manifest, concurrency);
    const t1 = performance.now();
    const { graph, externalData } = graphOf(manifest);
    const session = await ort.InferenceSession.create(files.get(graph)!, {
      executionProviders: [device],
      externalData: externalData.map((p) => ({ path: p.split('/').pop()!, data: files.get(p)! })),
      graphOptimizationLevel: 'all',
      ...prepackOptions(prepack),
    });
    const t2 = performance.now();
    await session.release();
    return { fetchMs: t1 - t0, sessionMs: t2 - t1, totalMs: t2 - t0 };
  },

  /** What a user writes without Tessera: ORT fetches the graph and its data itself, every visit. */
  async naive(manifestUrl: string, device: 'wasm' | 'webgpu' = 'wasm') {
    const t0 = performance.now();
    const manifest = await getManifest(manifestUrl);
    const { graph, externalData } = graphOf(manifest);
    const session = await ort.InferenceSession.create(fileUrl(manifestUrl, graph), {
      executionProviders: [device],
      externalData: externalData.map((p) => ({ path: p.split('/').pop()!, data: fileUrl(manifestUrl, p) })),
    });
    const t1 = performance.now();
    await session.release();
    return { totalMs: t1 - t0 };
  },

  /** Tessera: manifest -> plan -> ranged fetch -> verify -> IndexedDB -> session, in its worker. */
  async tessera(manifestUrl: string, options: { abortAtFraction?: number; transport?: 'worker' | 'in-process'; prepack?: boolean; device?: 'wasm' | 'webgpu'; weights?: 'auto' | 'copy'; run?: boolean } = {}) {
    const engine = await createEngine(options.transport ? { transport: options.transport } : {});
    const controller = new AbortController();
    let bytesFromNetwork = 0;
    let bytesFromCache = 0;
    let sessionPhaseAt: number | undefined;
    const t0 = performance.now();
    try {
      const model = await engine.load(manifestUrl, {
        device: options.device ?? 'wasm',
        ...(options.prepack === false ? { prepack: false } : {}),
        ...(options.weights ? { weights: options.weights } : {}),
        signal: controller.signal,
        onProgress: (p) => {
          bytesFromNetwork = p.bytesFromNetwork;
          bytesFromCache = p.bytesFromCache;
          if (p.phase === 'session' && sessionPhaseAt === undefined) sessionPhaseAt = performance.now();
          if (options.abortAtFraction !== undefined && p.bytesDone >= p.bytesTotal * options.abortAtFraction) {
            controller.abort();
          }
        },
      });
      const t1 = performance.now();
      // `run`: one call on zeros after the session is ready (not in totalMs), to show the loaded model computes.
      let runMs: number | undefined;
      let outputValues: number | undefined;
      if (options.run) {
        const input = model.inputMetadata[0]!;
        const dims = (input.shape ?? [1]).map((d) => (typeof d === 'number' ? d : 1));
        const r0 = performance.now();
        const out = await model.run({ [input.name]: { type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) } });
        runMs = performance.now() - r0;
        outputValues = Object.values(out)[0]!.data.length;
      }
      await model.dispose();
      const { device, weights, weightsReason } = model;
      return { totalMs: t1 - t0, fetchMs: (sessionPhaseAt ?? t1) - t0, aborted: false, bytesFromNetwork, bytesFromCache, device, weights, weightsReason, runMs, outputValues };
    } catch (error) {
      const t1 = performance.now();
      const code = (error as { code?: string }).code;
      if (code !== 'aborted') throw error;
      return { totalMs: t1 - t0, fetchMs: t1 - t0, aborted: true, bytesFromNetwork, bytesFromCache, device: 'none', weights: 'none', weightsReason: '' };
    } finally {
      await engine.dispose();
    }
  },

  /** Breakdown: the limit's parallel ranged fetch alone, no session. */
  async fetchOnly(manifestUrl: string, concurrency: number) {
    const t0 = performance.now();
    const manifest = await getManifest(manifestUrl);
    await fetchAllRanged(manifestUrl, manifest, concurrency);
    return { totalMs: performance.now() - t0 };
  },

  /** Breakdown: the loader alone on this thread, with IndexedDB or with nothing stored. */
  async loaderOnly(manifestUrl: string, cache: 'indexeddb' | 'memory') {
    const t0 = performance.now();
    const result = await loadPack(manifestUrl, { cache: cache === 'memory' ? 'memory' : createIdbCache() });
    const t1 = performance.now();
    return { totalMs: t1 - t0, bytesFromNetwork: result.stats.bytesFromNetwork };
  },

  /** Breakdown: SHA-256 of `mib` MiB in 8 MiB pieces, as the loader hashes chunks. */
  async hashOnly(mib: number) {
    const piece = new Uint8Array(8 << 20);
    crypto.getRandomValues(piece.subarray(0, 65536));
    const t0 = performance.now();
    for (let i = 0; i < mib / 8; i++) await crypto.subtle.digest('SHA-256', piece);
    return { totalMs: performance.now() - t0 };
  },

  /**
   * What checking the cached chunk Blobs costs on a warm load: the loader's
   * probe (size + a read of the last byte) against reading and re-hashing
   * every chunk, one after another on this thread.
   */
  async verifyCost(manifestUrl: string) {
    const manifest = await getManifest(manifestUrl);
    const cache = createIdbCache();
    const hashes = [...new Set(manifest.files.flatMap((f) => f.chunks))];
    const blobs = await Promise.all(hashes.map(async (h) => (await cache.getChunkBlob!(h))!));
    const t0 = performance.now();
    for (const blob of blobs) await blob.slice(blob.size - 1, blob.size).arrayBuffer();
    const t1 = performance.now();
    for (const blob of blobs) await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
    const t2 = performance.now();
    return { chunks: blobs.length, probeMs: t1 - t0, hashMs: t2 - t1 };
  },

  /** One warm load + dispose in an engine kept across calls (its worker ends after the dispose: a fresh wasm heap each cycle), for the growth over cycles. */
  async cycle(manifestUrl: string, options: { prepack?: boolean; device?: 'wasm' | 'webgpu'; weights?: 'auto' | 'copy' }) {
    cycleEngine ??= await createEngine();
    const model = await cycleEngine.load(manifestUrl, {
      device: options.device ?? 'wasm',
      ...(options.prepack === false ? { prepack: false } : {}),
      ...(options.weights ? { weights: options.weights } : {}),
    });
    await model.dispose();
  },

  async endCycles() {
    await cycleEngine?.dispose();
    cycleEngine = undefined;
  },

  /**
   * Warm-load peer: plain ORT's JSPI build, in its own worker, given one Blob
   * per external-data file composed of the chunk Blobs Tessera cached (the
   * graph as bytes). The worker ends afterwards, taking its wasm heap with it.
   */
  async plainBlob(manifestUrl: string, prepack = true, device: 'wasm' | 'webgpu' = 'wasm') {
    const manifest = await getManifest(manifestUrl);
    const cache = createIdbCache();
    const t0 = performance.now();
    const fileBlob = async (path: string) => {
      const file = manifest.files.find((f) => f.path === path)!;
      const parts = await Promise.all(file.chunks.map(async (h) => (await cache.getChunkBlob!(h))!));
      return new Blob(parts).slice(0, file.size);
    };
    const { graph, externalData } = graphOf(manifest);
    const graphBytes = new Uint8Array(await (await fileBlob(graph)).arrayBuffer());
    const data = await Promise.all(externalData.map(async (p) => ({ path: p.split('/').pop()!, data: await fileBlob(p) })));
    const readMs = performance.now() - t0;
    const worker = new Worker(new URL('./plain-blob-worker.ts', import.meta.url), { type: 'module' });
    try {
      const reply = await new Promise<{ ok: boolean; createMs?: number; message?: string }>((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => reject(new Error(e.message));
        // A hang is a failure with a message, not a benchmark that waits out Playwright's 10 minutes.
        setTimeout(() => reject(new Error('plain ORT create did not settle within 5 minutes')), 300_000);
        worker.postMessage({ graph: graphBytes, externalData: data, prepack, device });
      });
      if (!reply.ok) throw new Error(`plain ORT create failed: ${reply.message}`);
      return { readMs, createMs: reply.createMs!, totalMs: performance.now() - t0 };
    } finally {
      worker.terminate();
    }
  },

  async clearCache() {
    await createIdbCache().clear();
  },
};

(globalThis as unknown as { bench: typeof bench }).bench = bench;
document.getElementById('status')!.textContent = 'ready';
