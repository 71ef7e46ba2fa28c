/**
 * The split of a graph from its inline weights (src/pack/split-inline-weights.ts),
 * kept in the cache beside the file it came from, so a warm load does not
 * walk the file again: the walk reads a Blob of IndexedDB chunks a window at
 * a time, ~300 ms for the 289 MiB bench:hf encoder in a fresh worker, against
 * two small reads for the stored split.
 *
 * Stored as one chunk (content-addressed, checked on the way out) under the
 * file's model name, revision `split:<path>@<sha256 of the file>:<location>`:
 * a file with other bytes never finds it. The counts the weights report
 * gives ride in the stored file's name (`<tensors>-<bytes>.split.onnx`):
 * decoding the graph to count them would first parse the ONNX schema, a
 * 250 ms stall of the worker measured on the warm path.
 */
import type { ModelCache } from '../../cache/model-cache.ts';
import { manifestOf } from '../../fetch/hf-file.ts';
import { sha256Hex } from '../../pack/sha256.ts';
import type { SplitGraph } from '../../pack/split-inline-weights.ts';

/** What is kept of a split: the graph and its counts (the file it points into is the cached file itself). */
export type StoredSplit = Pick<SplitGraph, 'graph' | 'tensors' | 'bytes'>;

const revisionOf = (path: string, fileSha256: string, location: string) => `split:${path}@${fileSha256}:${location}`;

/**
 * @example
 * const split = (await readStoredSplit(cache, name, 'onnx/model.onnx', sha, 'model.onnx')) ?? (await splitAndStore());
 */
export async function readStoredSplit(cache: ModelCache, name: string, path: string, fileSha256: string, location: string): Promise<StoredSplit | undefined> {
  const manifest = await cache.getManifest(name, revisionOf(path, fileSha256, location)).catch(() => undefined);
  const file = manifest?.files[0];
  const counts = file && COUNTS.exec(file.path);
  const hash = file?.chunks[0];
  if (!counts || !hash) return undefined;
  const graph = await cache.getChunk(hash).catch(() => undefined);
  if (!graph || (await sha256Hex(graph)) !== hash) return undefined; // damaged: split the file again
  return { graph, tensors: Number(counts[1]), bytes: Number(counts[2]) };
}

const COUNTS = /^(\d+)-(\d+)\.split\.onnx$/;

/**
 * Best effort: a split that cannot be stored is made again next time.
 *
 * @example
 * await storeSplit(cache, name, 'onnx/model.onnx', sha, 'model.onnx', split);
 */
export async function storeSplit(cache: ModelCache, name: string, path: string, fileSha256: string, location: string, split: StoredSplit): Promise<void> {
  try {
    const { graph } = split;
    const hash = await sha256Hex(graph);
    await cache.putChunk(hash, graph);
    const file = { path: `${split.tensors}-${split.bytes}.split.onnx`, size: graph.byteLength, sha256: hash, role: 'graph' as const, chunks: [hash] };
    await cache.putManifest(manifestOf(name, revisionOf(path, fileSha256, location), graph.byteLength, [file]));
  } catch {
    // Only a shortcut for the next load.
  }
}
