import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, readExpected, type Expected, type Fixtures } from '../../test/helpers/fixtures.ts';
import { startRangeServer, type RangeServer } from '../../test/helpers/range-server.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import { createInProcessEngine } from './in-process-engine.ts';

let fixtures: Fixtures;
let server: RangeServer;
let cacheDir: string;

beforeAll(async () => {
  fixtures = await buildFixtures();
  server = await startRangeServer({ root: fixtures.root });
  cacheDir = await mkdtemp(join(tmpdir(), 'tessera-engine-'));
});

afterAll(async () => {
  await server?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

function feedsOf(expected: Expected): TensorMap {
  return Object.fromEntries(
    Object.entries(expected.inputs).map(([name, t]) => [name, { type: 'float32' as const, dims: t.dims, data: Float32Array.from(t.data) }]),
  );
}

function expectOutputs(outputs: TensorMap, expected: Expected, rel: number) {
  expect(Object.keys(outputs).sort()).toEqual(Object.keys(expected.outputs).sort());
  for (const [name, want] of Object.entries(expected.outputs)) {
    const got = outputs[name]!;
    expect(got.dims).toEqual(want.dims);
    let worst = 0;
    want.data.forEach((w, i) => {
      worst = Math.max(worst, Math.abs((got.data[i] as number) - w) / Math.max(1, Math.abs(w)));
    });
    expect(worst).toBeLessThanOrEqual(rel);
  }
}

describe('in-process engine (Node, onnxruntime-web wasm)', () => {
  for (const name of ['mlp', 'block'] as const) {
    it(`${name}: loads through the fs cache, runs, matches onnxruntime-node; a reload reads no weights from the network`, async () => {
      const pack = fixtures.packs[name];
      const expected = await readExpected(pack);
      const url = `${server.url}/${name}/manifest.json`;
      const engine = createInProcessEngine();
      const events: LoadProgress[] = [];
      server.resetStats();
      const model = await engine.load(url, { device: 'auto', cache: { type: 'fs', dir: cacheDir }, onProgress: (p) => events.push(p) });
      expect(model.device).toBe('wasm');
      expect(model.deviceReason).toBe('wasm: navigator.gpu missing');
      expect(model.manifest.name).toBe(pack.name);
      expect(model.inputNames).toEqual(Object.keys(expected.inputs));
      expectOutputs(await model.run(feedsOf(expected)), expected, 1e-4);
      const cold = server.stats();
      expect(cold.bytes).toBeGreaterThanOrEqual(model.manifest.totalBytes);
      // The load ends with the session phase, and only the last event says done.
      expect(events.at(-1)).toMatchObject({ phase: 'session', done: true, bytesDone: model.manifest.totalBytes });
      expect(events.filter((e) => e.done)).toHaveLength(1);
      expect(events.some((e) => e.phase === 'download')).toBe(true);
      await engine.dispose();
      await expect(model.run(feedsOf(expected))).rejects.toMatchObject({ code: 'session-closed' });

      server.resetStats();
      const again = await createInProcessEngine().load(url, { device: 'wasm', cache: { type: 'fs', dir: cacheDir } });
      const warm = server.stats();
      const weightBytes = Object.entries(warm.byPath)
        .filter(([path]) => !path.endsWith('manifest.json'))
        .reduce((sum, [, s]) => sum + s.bytes, 0);
      expect(weightBytes).toBe(0);
      expectOutputs(await again.run(feedsOf(expected)), expected, 1e-4);
      await again.dispose();
    });
  }

  it('an aborted load rejects with aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const engine = createInProcessEngine();
    await expect(engine.load(`${server.url}/mlp/manifest.json`, { cache: { type: 'memory' }, signal: controller.signal })).rejects.toMatchObject({ code: 'aborted' });
  });

  it('a missing pack is not-found', async () => {
    const engine = createInProcessEngine();
    await expect(engine.load(`${server.url}/nope/manifest.json`, { cache: { type: 'memory' } })).rejects.toMatchObject({ code: 'not-found', message: expect.stringContaining('/nope/manifest.json') });
  });
});
