/**
 * tessera.pipeline in real Chromium: the generated tiny BERT encoder, served
 * as a Hugging Face-style repository (hub look-alike, no manifest) and as a
 * Tessera pack, runs `feature-extraction` with mean pooling in the pipeline's
 * Web Worker on wasm and on WebGPU (SwiftShader), and in-process; embeddings
 * match onnxruntime-node's (computed by the global setup); a fresh pipeline
 * reads zero weight bytes from the network. ORT's wasm comes from this
 * origin (there is no CDN here: a CDN URL would fail the load).
 */
import { describe, expect, inject, it } from 'vitest';
import { pipeline, type HfPipeline } from '../../src/transport/hf-pipeline.ts';
import { isTesseraError } from '../../src/errors.ts';
import { createStore, set } from 'idb-keyval';
import { createIdbCache } from '../../src/cache/idb-cache.ts';

const hub = inject('hfServerUrl');
const packUrl = inject('hfPackUrl');
const packOrigin = new URL(packUrl).origin;
const WEIGHTS = '/test/tiny-bert/resolve/main/onnx/model.onnx';
const CHUNK = 64 * 1024;
const unique = () => ({ type: 'indexeddb' as const, prefix: `hf-${Date.now()}-${Math.random().toString(36).slice(2)}` });

interface Expected {
  sentences: string[];
  hidden: number;
  embeddings: number[][];
  weightBytes: number;
}
const expected = (async () => (await fetch(`${hub}/test/tiny-bert/resolve/main/expected.json`)).json() as Promise<Expected>)();

type Stats = { bytes: number; byPath: Record<string, { requests: number; bytes: number }> };
const control = async (origin: string, action: 'stats' | 'reset'): Promise<Stats> =>
  (await fetch(`${origin}/__control/${action}`, { method: action === 'stats' ? 'GET' : 'POST', cache: 'no-store' })).json();

/** Worst absolute difference from onnxruntime-node's embeddings. */
async function worstError(embed: HfPipeline): Promise<number> {
  const want = await expected;
  const got = await embed(want.sentences, { pooling: 'mean', normalize: true });
  expect(got.dims).toEqual([want.sentences.length, want.hidden]);
  expect(got.data).toBeInstanceOf(Float32Array);
  let worst = 0;
  want.embeddings.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs((got.data[i * want.hidden + j] as number) - x)))));
  return worst;
}

/** Body bytes the pack server sent for anything but manifest.json. */
function packFileBytes(stats: Stats): number {
  return Object.entries(stats.byPath)
    .filter(([p]) => p.includes('tiny-bert/') && !p.endsWith('manifest.json'))
    .reduce((s, [, v]) => s + v.bytes, 0);
}

describe('tessera.pipeline in Chromium', () => {
  it('HF-style repository, wasm, in its Web Worker: matches onnxruntime-node; a fresh pipeline reads zero bytes', async () => {
    const { weightBytes } = await expected;
    const cache = unique();
    await control(hub, 'reset');
    const progress: number[] = [];
    const embed = await pipeline('feature-extraction', 'test/tiny-bert', { source: hub, device: 'wasm', cache, chunkSize: CHUNK, onProgress: (p) => progress.push(p.bytesFromNetwork) });
    expect({ device: embed.device, reason: embed.reason, task: embed.task }).toEqual({ device: 'wasm', reason: 'wasm: requested', task: 'feature-extraction' });
    expect(await worstError(embed)).toBeLessThan(1e-4);
    const cold = await control(hub, 'stats');
    expect(cold.byPath[WEIGHTS]!.bytes).toBeGreaterThanOrEqual(weightBytes);
    expect(cold.byPath[WEIGHTS]!.requests).toBeGreaterThanOrEqual(3); // HEAD + ranged chunks
    expect(embed.stats.chunksFetched).toBeGreaterThan(2);
    expect(progress.at(-1)).toBe(embed.stats.bytesFromNetwork);
    // Downloaded into memory this time: the split graph's weights are read from that one copy.
    expect(embed.weights).toBe('copied');
    expect(embed.weightsReason).toMatch(/^copied: onnx\/model\.onnx was downloaded into memory by this load, and the JSPI build reads its \d+ initializers/);
    expect(await embed.countTokens(['hello world'])).toEqual([4]);
    await embed.dispose();
    await expect(embed(['hello'])).rejects.toMatchObject({ code: 'session-closed' });

    await control(hub, 'reset');
    const again = await pipeline('feature-extraction', 'test/tiny-bert', { source: hub, device: 'wasm', cache, chunkSize: CHUNK });
    expect(await worstError(again)).toBeLessThan(1e-4);
    expect((await control(hub, 'stats')).bytes).toBe(0);
    expect(again.stats.bytesFromNetwork).toBe(0);
    expect(again.weights).toBe('streamed');
    expect(again.weightsReason).toMatch(/^streamed: JSPI build reads the \d+ initializers \([\d.]+ MiB\) of onnx\/model\.onnx from its cached chunk Blobs$/);
    await again.dispose();

    // The copying path on request: the same embeddings from the whole graph as bytes.
    const copied = await pipeline('feature-extraction', 'test/tiny-bert', { source: hub, device: 'wasm', cache, chunkSize: CHUNK, weights: 'copy' });
    expect({ weights: copied.weights, weightsReason: copied.weightsReason }).toEqual({ weights: 'copied', weightsReason: 'copied: requested (weights: copy)' });
    expect(await worstError(copied)).toBeLessThan(1e-4);
    await copied.dispose();
  });

  it('Tessera pack, WebGPU, in its Web Worker: matches onnxruntime-node; reload in-process reads zero weight bytes', async () => {
    const cache = unique();
    await control(packOrigin, 'reset');
    const embed = await pipeline('feature-extraction', 'tiny-bert', { source: packUrl, device: 'webgpu', cache });
    expect(embed.device).toBe('webgpu');
    expect(embed.reason).toMatch(/^webgpu: adapter google\/swiftshader/);
    // A pack's graph declares its external data: downloaded chunks are verified, wrapped as Blobs and mounted as they are.
    expect(embed.weights).toBe('streamed');
    expect(embed.weightsReason).toMatch(/^streamed: JSPI build reads onnx\/model\.onnx's external data \(\S+\) from the chunk Blobs$/);
    expect(await worstError(embed)).toBeLessThan(1e-3);
    expect(packFileBytes(await control(packOrigin, 'stats'))).toBeGreaterThanOrEqual((await expected).weightBytes);
    await embed.dispose();

    await control(packOrigin, 'reset');
    const again = await pipeline('feature-extraction', 'tiny-bert', { source: packUrl, device: 'wasm', cache, worker: false });
    expect(again.device).toBe('wasm');
    expect(again.weights).toBe('streamed');
    expect(await worstError(again)).toBeLessThan(1e-4);
    expect(packFileBytes(await control(packOrigin, 'stats'))).toBe(0);
    expect(again.stats.bytesFromNetwork).toBe(0);
    await again.dispose();
  });

  it('a damaged cached chunk of the graph is fetched again, never handed to ORT, on the streamed path', async () => {
    const cache = unique();
    const first = await pipeline('feature-extraction', 'test/tiny-bert', { source: hub, device: 'wasm', cache, chunkSize: CHUNK });
    await first.dispose();
    const manifest = await createIdbCache({ prefix: cache.prefix }).getManifest(`hf:${hub}/test/tiny-bert/resolve/main/`, 'file:onnx/model.onnx');
    const damaged = manifest!.files[0]!.chunks[1]!;
    // A value of the wrong size under the chunk's key, as a damaged entry would be.
    await set(damaged, new Blob([new Uint8Array(1000).fill(7)]), createStore(`${cache.prefix}-chunks`, 'chunks'));
    await control(hub, 'reset');
    const again = await pipeline('feature-extraction', 'test/tiny-bert', { source: hub, device: 'wasm', cache, chunkSize: CHUNK });
    expect(again.stats.chunksFetched).toBe(1);
    expect((await control(hub, 'stats')).byPath[WEIGHTS]!.bytes).toBe(CHUNK);
    expect(again.weights).toBe('streamed');
    expect(await worstError(again)).toBeLessThan(1e-4);
    await again.dispose();
  });

  it('errors cross the worker boundary with their code', async () => {
    const missing = await pipeline('feature-extraction', 'test/no-such-model', { source: hub, device: 'wasm', cache: unique() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTesseraError(missing, 'backend-error')).toBe(true);
    expect((missing as Error).message).toMatch(/config\.json|no-such-model|locate/i);
    await expect(pipeline('feature-extraction', 'test/tiny-bert', { source: hub, cache: { type: 'fs' } })).rejects.toMatchObject({ code: 'invalid-argument' });
    const aborted = new AbortController();
    aborted.abort();
    await expect(pipeline('feature-extraction', 'test/tiny-bert', { source: hub, signal: aborted.signal })).rejects.toMatchObject({ code: 'aborted' });
  });
});
