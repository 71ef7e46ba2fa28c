/**
 * The engine in real Chromium: fixture packs load through the ranged loader
 * into IndexedDB and run in the engine's Web Worker on WebGPU (SwiftShader)
 * and on wasm, checked against onnxruntime-node's outputs (expected.json).
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/transport/create-engine.ts';
import { createWorkerEngine, type WorkerLike } from '../../src/transport/worker-client.ts';
import type { Engine, ModelHandle } from '../../src/engine/engine.ts';
import { isTesseraError } from '../../src/errors.ts';
import type { LoadProgress } from '../../src/fetch/progress.ts';
import type { TensorMap } from '../../src/protocol/tensor.ts';

const server = inject('rangeServerUrl');
// A fresh IndexedDB namespace per run, so "cold" really is cold.
const cache = { type: 'indexeddb' as const, prefix: `engine-worker-${Date.now()}-${Math.random().toString(36).slice(2)}` };

interface Expected {
  inputs: Record<string, { dims: number[]; data: number[] }>;
  outputs: Record<string, { dims: number[]; data: number[] }>;
}

const engines: Engine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
});

async function newEngine(): Promise<Engine> {
  const engine = await createEngine();
  engines.push(engine);
  return engine;
}

async function expectedFor(pack: string): Promise<Expected> {
  return (await fetch(`${server}/${pack}/expected.json`)).json();
}

function feedsOf(expected: Expected): TensorMap {
  return Object.fromEntries(Object.entries(expected.inputs).map(([n, t]) => [n, { type: 'float32' as const, dims: t.dims, data: Float32Array.from(t.data) }]));
}

/** Worst relative error (relative to max(1, |expected|)) over every output. */
function worstError(outputs: TensorMap, expected: Expected): number {
  let worst = 0;
  for (const [name, want] of Object.entries(expected.outputs)) {
    const got = outputs[name];
    expect(got?.dims).toEqual(want.dims);
    want.data.forEach((w, i) => {
      worst = Math.max(worst, Math.abs((got!.data[i] as number) - w) / Math.max(1, Math.abs(w)));
    });
  }
  return worst;
}

/** Body bytes the server sent for a pack's files other than manifest.json. */
async function weightBytesServed(pack: string): Promise<number> {
  const stats = (await (await fetch(`${server}/__control/stats`)).json()) as { byPath: Record<string, { bytes: number }> };
  return Object.entries(stats.byPath)
    .filter(([path]) => path.replace(/^\//, '').startsWith(`${pack}/`) && !path.endsWith('manifest.json') && !path.endsWith('expected.json'))
    .reduce((sum, [, s]) => sum + s.bytes, 0);
}

describe('engine in a Web Worker (Chromium, WebGPU on SwiftShader)', () => {
  for (const pack of ['mlp', 'block']) {
    it(`${pack}: loads into IndexedDB, runs on webgpu and wasm, matches onnxruntime-node; a reload fetches no weights`, async () => {
      const expected = await expectedFor(pack);
      const url = `${server}/${pack}/manifest.json`;
      const engine = await newEngine();
      expect(engine.transport).toBe('worker');

      const before = await weightBytesServed(pack);
      const events: LoadProgress[] = [];
      const gpu = await engine.load(url, { device: 'webgpu', cache, onProgress: (p) => events.push(p) });
      expect(gpu.device).toBe('webgpu');
      expect(gpu.deviceReason).toMatch(/^webgpu: adapter google\/swiftshader/);
      expect(events.at(-1)).toMatchObject({ phase: 'session', done: true });
      expect(await weightBytesServed(pack)).toBeGreaterThan(before);
      expect(worstError(await gpu.run(feedsOf(expected)), expected)).toBeLessThanOrEqual(1e-3);

      const cpu = await engine.load(url, { device: 'wasm', cache });
      expect(cpu).toMatchObject({ device: 'wasm', deviceReason: 'wasm: requested' });
      expect(worstError(await cpu.run(feedsOf(expected)), expected)).toBeLessThanOrEqual(1e-4);
      await engine.dispose();

      // A fresh engine (a new worker) finds everything in IndexedDB.
      const warmEngine = await newEngine();
      const servedBefore = await weightBytesServed(pack);
      const warmEvents: LoadProgress[] = [];
      const warm = await warmEngine.load(url, { device: 'auto', cache, onProgress: (p) => warmEvents.push(p) });
      expect(await weightBytesServed(pack)).toBe(servedBefore);
      expect(warmEvents.at(-1)).toMatchObject({ bytesFromNetwork: 0, bytesFromCache: warm.manifest.totalBytes });
      expect(warm.device).toBe('webgpu');
      expect(worstError(await warm.run(feedsOf(expected)), expected)).toBeLessThanOrEqual(1e-3);
      await warmEngine.dispose();
    });
  }

  it('auto picks webgpu and says which adapter; errors thrown in the worker keep their code', async () => {
    const engine = await newEngine();
    const model: ModelHandle = await engine.load(`${server}/mlp/manifest.json`, { cache });
    expect(model.device).toBe('webgpu');
    expect(model.deviceReason).toBe('webgpu: adapter google/swiftshader');
    const input = Object.values(feedsOf(await expectedFor('mlp')))[0]!;
    const err = await model.run({ not_an_input: input }).catch((e: unknown) => e);
    expect(isTesseraError(err, 'invalid-argument')).toBe(true);
    expect((err as Error).message).toContain('unknown input "not_an_input"; the model\'s inputs are: input');
    // A pack that does not exist: the loader's error code crosses too.
    await expect(engine.load(`${server}/no-such-pack/manifest.json`, { cache })).rejects.toMatchObject({ name: 'TesseraError', code: 'not-found' });
  });

  it('ends its worker (and wasm heap) after the last dispose; the next load runs in a fresh worker', async () => {
    const workers: { ended: boolean }[] = [];
    const spawn = (): WorkerLike => {
      const worker = new Worker(new URL('../../src/transport/engine-worker.ts', import.meta.url), { type: 'module', name: 'tessera-engine' });
      const record = { ended: false };
      workers.push(record);
      const terminate = worker.terminate.bind(worker);
      worker.terminate = () => {
        record.ended = true;
        terminate();
      };
      return worker as unknown as WorkerLike;
    };
    const engine = createWorkerEngine({ spawn });
    engines.push(engine);
    const expected = await expectedFor('mlp');
    const url = `${server}/mlp/manifest.json`;
    for (let cycle = 0; cycle < 3; cycle++) {
      const model = await engine.load(url, { device: 'wasm', cache });
      expect(worstError(await model.run(feedsOf(expected)), expected)).toBeLessThanOrEqual(1e-4);
      expect(workers.map((w) => w.ended)).toEqual([...new Array<boolean>(cycle).fill(true), false]);
      await model.dispose();
      expect(workers.every((w) => w.ended)).toBe(true);
    }
  });
});
