/**
 * Which chunks may be deleted when some models go: the ones no remaining
 * model references. Chunks are shared by hash across models and revisions,
 * so deleting a model must never take a chunk another cached model needs.
 */
import type { PackManifest } from '../pack/manifest.ts';
import type { CachedModel } from './model-cache.ts';

/**
 * @example
 * const doomed = orphanChunks([oldRevision], [otherModel, newRevision]);
 * await deleteChunks(doomed);
 */
export function orphanChunks(deleted: readonly PackManifest[], remaining: readonly PackManifest[]): string[] {
  const kept = new Set<string>();
  for (const manifest of remaining) for (const file of manifest.files) for (const hash of file.chunks) kept.add(hash);
  const out = new Set<string>();
  for (const manifest of deleted) {
    for (const file of manifest.files) for (const hash of file.chunks) if (!kept.has(hash)) out.add(hash);
  }
  return [...out];
}

/** The key a model revision is stored under in every cache. */
export function modelKey(name: string, revision: string): string {
  return `${name}@${revision}`;
}

/** What a cache stores per model revision. */
export interface ModelRecord {
  manifest: PackManifest;
  lastUsed: number;
}

/** The `listModels()` entry for a stored record. */
export function toCachedModel({ manifest, lastUsed }: ModelRecord): CachedModel {
  return { name: manifest.name, revision: manifest.revision, bytes: manifest.totalBytes, lastUsed };
}

/** Splits records into those `deleteModel(name, revision?)` removes and the rest. */
export function partitionModels(records: readonly ModelRecord[], name: string, revision?: string): { doomed: ModelRecord[]; kept: ModelRecord[] } {
  const doomed: ModelRecord[] = [];
  const kept: ModelRecord[] = [];
  for (const record of records) {
    const hit = record.manifest.name === name && (revision === undefined || record.manifest.revision === revision);
    (hit ? doomed : kept).push(record);
  }
  return { doomed, kept };
}
