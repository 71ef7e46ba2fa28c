/**
 * The storage seam every loader talks to. Chunks are content-addressed (key =
 * lower-case hex SHA-256), manifests are keyed by model name and revision.
 * Implementations: IndexedDB (browsers, `idb-cache.ts`), a directory (Node,
 * `fs-cache.ts`), memory (`memory-cache.ts`, for "run without caching" and tests).
 *
 * Invariants every implementation keeps:
 * - `putChunk` is atomic: after a crash a chunk is either absent or complete.
 *   (Callers verify the hash before calling; stores may re-verify on read.)
 * - A manifest record is written only after all of its chunks are stored, so a
 *   manifest in the cache means "this revision is complete".
 */
import type { PackManifest } from '../pack/manifest.ts';

export interface CachedModel {
  name: string;
  revision: string;
  /** Bytes of the model's files (shared chunks are counted in each model). */
  bytes: number;
  /** Epoch milliseconds of the last load. */
  lastUsed: number;
}

export interface StorageEstimate {
  /** Bytes the origin (or cache directory's filesystem) may still use; `Infinity` when unknown. */
  available: number;
  /** Bytes the cache already uses. */
  used: number;
  /** Whether the browser granted persistent storage (always true for Node). */
  persisted: boolean;
}

export interface ModelCache {
  /** For each hash, whether that chunk is stored. */
  hasChunks(hashes: readonly string[]): Promise<boolean[]>;
  getChunk(hash: string): Promise<Uint8Array | undefined>;
  putChunk(hash: string, bytes: Uint8Array): Promise<void>;
  /**
   * The stored chunk as a Blob, without reading its bytes into JS (IndexedDB
   * hands back a file-backed Blob). Optional: a store without it serves only
   * the copying path. Its size may be wrong or its backing file gone: the
   * loader checks before it hands the Blob on.
   */
  getChunkBlob?(hash: string): Promise<Blob | undefined>;
  /** Many chunks' Blobs in one read (IndexedDB: one transaction), in the order asked; undefined where a chunk is missing. */
  getChunkBlobs?(hashes: string[]): Promise<Array<Blob | undefined>>;
  /** Stores a chunk given as a Blob (already verified by the caller). Same atomicity as putChunk. */
  putChunkBlob?(hash: string, blob: Blob): Promise<void>;

  /**
   * The first bytes of a chunk whose download broke off (an abort, a cut
   * connection), so a later load asks only for the rest with a Range request.
   * Unverified: only ever a prefix that the loader completes and then checks
   * against the chunk's SHA-256 as a whole, discarding it on a mismatch. A
   * partial is never a chunk (`hasChunks` and `getChunk` do not see it).
   * Optional: a store without these restarts broken-off chunks from byte 0.
   */
  getPartial?(hash: string): Promise<Uint8Array | undefined>;
  putPartial?(hash: string, bytes: Uint8Array): Promise<void>;
  deletePartial?(hash: string): Promise<void>;

  getManifest(name: string, revision: string): Promise<PackManifest | undefined>;
  /** Records a complete revision; call only after every chunk is stored. */
  putManifest(manifest: PackManifest): Promise<void>;
  /** Updates a model's last-used time. */
  touch(name: string, revision: string, when?: number): Promise<void>;

  listModels(): Promise<CachedModel[]>;
  /** Deletes a model's manifest and the chunks no other cached model references. */
  deleteModel(name: string, revision?: string): Promise<void>;
  clear(): Promise<void>;

  /** Room left and used; browsers ask `navigator.storage.estimate()`. */
  estimate(): Promise<StorageEstimate>;
  /** Asks for persistent storage (browsers); resolves to whether it is granted. */
  persist(): Promise<boolean>;
}
