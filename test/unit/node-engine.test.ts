/**
 * createEngine() in Node: sessions on onnxruntime-node for `auto`/`cpu`
 * (intra-op threads as asked), onnxruntime-web for `wasm`, same pack, loader
 * and cache.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fileFetch } from '../../src/cli/file-fetch.ts';
import { createEngine } from '../../src/transport/create-engine.ts';
import { buildFixtures } from '../helpers/fixtures.ts';

describe('createEngine in Node', () => {
  it('auto loads on native cpu with the threads asked for, wasm on onnxruntime-web, and both agree', async () => {
    const { packs } = await buildFixtures();
    const url = pathToFileURL(join(packs.mlp.dir, 'manifest.json')).href;
    const engine = await createEngine({ threads: 1 });
    const common = { cache: { type: 'memory' as const }, fetch: fileFetch };
    const native = await engine.load(url, common);
    expect(native.device).toBe('cpu');
    expect(native.deviceReason).toMatch(/^cpu: onnxruntime-node 1\.\d+\.\d+, 1 thread\b/);
    const wasm = await engine.load(url, { ...common, device: 'wasm' });
    expect([wasm.device, wasm.deviceReason]).toEqual(['wasm', 'wasm: requested']);
    const d = native.inputMetadata[0]!.shape![1] as number;
    const input = { input: { type: 'float32' as const, dims: [2, d], data: Float32Array.from({ length: 2 * d }, (_, i) => Math.sin(i)) } };
    const [a, b] = await Promise.all([native.run(input), wasm.run(input)]);
    const x = a.output!.data as Float32Array;
    const y = b.output!.data as Float32Array;
    expect(x.length).toBe(y.length);
    expect(Math.max(...x.map((v, i) => Math.abs(v - y[i]!) / Math.max(1, Math.abs(y[i]!))))).toBeLessThan(1e-4);
    await engine.dispose();
  });
});
