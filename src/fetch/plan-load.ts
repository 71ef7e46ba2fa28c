/**
 * The plan: every distinct chunk of a manifest (identical chunks, within a
 * file or across files, are fetched once and copied to every place they go),
 * split into those the cache has and those to fetch.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import type { PackManifest } from '../pack/manifest.ts';

export interface ChunkPlace {
  /** Index into manifest.files. */
  file: number;
  /** Chunk index within that file. */
  chunk: number;
  offset: number;
  size: number;
}

export interface PlannedChunk {
  hash: string;
  size: number;
  /** Every place these bytes go; the first is where they are fetched from. */
  places: ChunkPlace[];
}

export interface LoadPlan {
  chunks: PlannedChunk[];
  cached: PlannedChunk[];
  missing: PlannedChunk[];
  /** Bytes to fetch and store: the distinct missing chunks. */
  neededBytes: number;
}

/** Groups a manifest's chunks by hash. */
function distinctChunks(manifest: PackManifest): PlannedChunk[] {
  const byHash = new Map<string, PlannedChunk>();
  manifest.files.forEach((file, fileIndex) => {
    file.chunks.forEach((hash, chunk) => {
      const offset = chunk * manifest.chunkSize;
      const size = Math.min(manifest.chunkSize, file.size - offset);
      const place = { file: fileIndex, chunk, offset, size };
      const entry = byHash.get(hash);
      if (entry) entry.places.push(place);
      else byHash.set(hash, { hash, size, places: [place] });
    });
  });
  return [...byHash.values()];
}

/**
 * @example
 * const plan = await planLoad(manifest, cache);
 * console.log(`${plan.missing.length} chunks (${plan.neededBytes} bytes) to fetch`);
 */
export async function planLoad(manifest: PackManifest, cache: ModelCache | undefined): Promise<LoadPlan> {
  const chunks = distinctChunks(manifest);
  // No cache (a load from memory): every chunk is missing.
  const have = cache ? await cache.hasChunks(chunks.map((c) => c.hash)) : [];
  const cached = chunks.filter((_, i) => have[i]);
  const missing = chunks.filter((_, i) => !have[i]);
  return { chunks, cached, missing, neededBytes: missing.reduce((sum, c) => sum + c.size, 0) };
}
