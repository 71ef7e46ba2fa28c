/**
 * The HF pipeline worker's protocol in Node: the real worker side
 * (serveHfPipelines with the real pipeline on onnxruntime-node) on one end
 * of a MessageChannel, the page-side client on the other. Texts go in,
 * embeddings come back as transferred Float32Arrays, errors keep their code,
 * malformed messages are refused with `bad-request`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerPipeline } from '../../src/transport/hf-worker-client.ts';
import type { WorkerLike } from '../../src/protocol/worker-like.ts';
import { parseHfWorkerRequest, parseHfWorkerResponse } from '../../src/protocol/hf-worker-messages.ts';
import { pipeline } from '../../src/transport/hf-pipeline.ts';
import { serveHfPipelines } from '../../src/transport/serve-hf-pipelines.ts';
import type { PortLike } from '../../src/transport/rpc-server.ts';
import { referenceEmbeddings } from '../helpers/hf-fixtures.ts';
import { writeHfEncoder, type HfEncoder } from '../helpers/hf-model.ts';
import { startHfServer, type HfServer } from '../helpers/hf-server.ts';

const SENTENCES = ['hello world', 'the cat sat on the mat'];
let root: string;
let enc: HfEncoder;
let hub: HfServer;
let reference: number[][];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-hf-worker-'));
  enc = await writeHfEncoder(join(root, 'tiny-bert'), { hidden: 32, heads: 4, layers: 1 });
  hub = await startHfServer({ repos: { 'test/tiny-bert': enc.dir } });
  reference = await referenceEmbeddings(enc, join(enc.dir, 'onnx', 'model.onnx'), SENTENCES);
});

afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

function channel(): { client: WorkerLike; stop(): void } {
  const { port1, port2 } = new MessageChannel();
  const stop = serveHfPipelines(pipeline, port1 as unknown as PortLike);
  return {
    client: port2 as unknown as WorkerLike,
    stop() {
      stop();
      port1.close();
    },
  };
}

describe('HF pipeline worker protocol', () => {
  it('loads, embeds like onnxruntime-node, counts tokens and disposes across the channel', async () => {
    const { client, stop } = channel();
    try {
      const progress: number[] = [];
      const embed = await workerPipeline('feature-extraction', 'test/tiny-bert', { source: hub.url, cache: { type: 'memory' }, onProgress: (p) => progress.push(p.bytesFromNetwork) }, client);
      expect(embed.device).toBe('cpu');
      // Node: transformers.js runs onnxruntime-node, which takes the graph as bytes; the reason crosses the channel.
      expect({ weights: embed.weights, weightsReason: embed.weightsReason }).toEqual({ weights: 'copied', weightsReason: 'copied: onnxruntime-node reads the graph from memory' });
      expect(embed.stats.bytesFromNetwork).toBeGreaterThan(enc.weightBytes);
      expect(progress.at(-1)).toBe(embed.stats.bytesFromNetwork);
      const out = await embed(SENTENCES, { pooling: 'mean', normalize: true });
      expect(out.dims).toEqual([2, enc.hidden]);
      expect(out.data).toBeInstanceOf(Float32Array);
      reference.forEach((row, i) => row.forEach((x, j) => expect(Math.abs((out.data[i * enc.hidden + j] as number) - x)).toBeLessThan(1e-4)));
      expect(await embed.countTokens(['hello world'])).toEqual([4]);
      await embed.dispose();
      await expect(embed(['hello'])).rejects.toMatchObject({ name: 'TesseraError', code: 'session-closed' });
    } finally {
      stop();
    }
  });

  it('rebuilds errors with their code, and refuses what it cannot send', async () => {
    const { client, stop } = channel();
    try {
      const err = await workerPipeline('feature-extraction', 'test/missing', { source: hub.url, cache: { type: 'memory' } }, client).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: 'TesseraError', code: 'backend-error' });
      await expect(workerPipeline('feature-extraction', 'test/tiny-bert', { source: hub.url, fetch: globalThis.fetch }, client)).rejects.toMatchObject({ code: 'invalid-argument' });
      await expect(workerPipeline('feature-extraction', 'test/tiny-bert', { source: hub.url, cache: { type: 'fs' } }, client)).rejects.toMatchObject({ code: 'invalid-argument' });
    } finally {
      stop();
    }
  });

  it('validates messages both ways', () => {
    expect(() => parseHfWorkerRequest({ type: 'load', id: 1, task: 'feature-extraction', modelId: 'a/b', options: { source: 'x', device: 'gpu', cache: { type: 'memory' } } })).toThrow(/device/);
    expect(() => parseHfWorkerRequest({ type: 'call', id: 2, pipeline: 1, input: [1, 2], options: {} })).toThrow(/strings/);
    expect(() => parseHfWorkerRequest({ type: 'nope', id: 3 })).toThrow(/unknown request type/);
    const load = (weights: unknown) => ({ type: 'load', id: 6, task: 'feature-extraction', modelId: 'a/b', progress: false, options: { source: 'x', device: 'auto', cache: { type: 'memory' }, weights } });
    expect(() => parseHfWorkerRequest(load('stream'))).toThrow(/weights must be 'auto' or 'copy', got "stream"/);
    expect(parseHfWorkerRequest(load('copy'))).toMatchObject({ options: { weights: 'copy' } });
    const info = { pipeline: 1, device: 'wasm', reason: 'wasm: requested', stats: { bytesFromNetwork: 0, bytesFromCache: 0, chunksFetched: 0, files: [] } };
    expect(() => parseHfWorkerResponse({ type: 'loaded', id: 7, info })).toThrow(/weights, weightsReason/);
    expect(parseHfWorkerResponse({ type: 'loaded', id: 7, info: { ...info, weights: 'streamed', weightsReason: 'streamed: ...' } })).toMatchObject({ info: { weights: 'streamed', weightsReason: 'streamed: ...' } });
    expect(() => parseHfWorkerResponse({ type: 'output', id: 4, dims: [1], data: [0.5] })).toThrow(/Float32Array/);
    expect(parseHfWorkerResponse({ type: 'tokens', id: 5, counts: [3] })).toEqual({ type: 'tokens', id: 5, counts: [3] });
  });
});
