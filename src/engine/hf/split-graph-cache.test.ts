/** The stored split of a graph: read back with its counts for the same file, never for other bytes, and not when its chunk is damaged. */
import { describe, expect, it } from 'vitest';
import { createMemoryCache } from '../../cache/memory-cache.ts';
import { readStoredSplit, storeSplit } from './split-graph-cache.ts';

const graph = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
const sha = 'a'.repeat(64);

describe('split graph cache', () => {
  it('gives back the graph and its counts for the same file and location only', async () => {
    const cache = createMemoryCache();
    expect(await readStoredSplit(cache, 'hf:repo', 'onnx/model.onnx', sha, 'model.onnx')).toBeUndefined();
    await storeSplit(cache, 'hf:repo', 'onnx/model.onnx', sha, 'model.onnx', { graph, tensors: 12, bytes: 123456789 });
    const back = await readStoredSplit(cache, 'hf:repo', 'onnx/model.onnx', sha, 'model.onnx');
    expect(back).toEqual({ graph, tensors: 12, bytes: 123456789 });
    expect(await readStoredSplit(cache, 'hf:repo', 'onnx/model.onnx', 'b'.repeat(64), 'model.onnx')).toBeUndefined();
    expect(await readStoredSplit(cache, 'hf:repo', 'onnx/model.onnx', sha, 'weights.bin')).toBeUndefined();
    expect(await readStoredSplit(cache, 'hf:other', 'onnx/model.onnx', sha, 'model.onnx')).toBeUndefined();
  });

  it('ignores a stored split whose chunk no longer matches its hash', async () => {
    const cache = createMemoryCache();
    await storeSplit(cache, 'hf:repo', 'onnx/model.onnx', sha, 'model.onnx', { graph, tensors: 1, bytes: 10 });
    // The entry read back damaged (a flipped byte), as a broken store would give it.
    const damaged = { ...cache, getChunk: async (hash: string) => (await cache.getChunk(hash))?.map((b, i) => (i === 5 ? b ^ 1 : b)) };
    expect(await readStoredSplit(damaged, 'hf:repo', 'onnx/model.onnx', sha, 'model.onnx')).toBeUndefined();
    expect(await readStoredSplit(cache, 'hf:repo', 'onnx/model.onnx', sha, 'model.onnx')).toMatchObject({ tensors: 1, bytes: 10 });
  });
});
