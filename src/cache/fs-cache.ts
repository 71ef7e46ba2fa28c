/**
 * The Node cache: a directory (`$XDG_CACHE_HOME/tessera`, else
 * `~/.cache/tessera`), laid out as
 *
 *   chunks/ab/<sha256>            one file per chunk, named by its hash
 *   models/<name>@<revision>.json { manifest, lastUsed }
 *   tmp/                          writes in progress
 *
 * Every write goes to tmp/ first and is renamed into place: rename is atomic
 * on one filesystem, so a crash leaves either no entry or a complete one,
 * never a half chunk a later load would trust.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import type { CachedModel, ModelCache, StorageEstimate } from './model-cache.ts';
import { modelKey, orphanChunks, partitionModels, toCachedModel, type ModelRecord } from './orphan-chunks.ts';

/** The default cache directory, read from the environment when called (never at import). */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return xdg ? join(xdg, 'tessera') : join(homedir(), '.cache', 'tessera');
}

/**
 * @example
 * const cache = createFsCache({ dir: '/var/cache/tessera' });
 * const { files } = await loadPack('http://127.0.0.1:8080/mlp/manifest.json', { cache });
 */
export function createFsCache(options: { dir?: string; now?: () => number } = {}): ModelCache {
  const dir = options.dir ?? defaultCacheDir();
  const now = options.now ?? Date.now;
  const checked = (hash: string) => {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new TesseraError('invalid-argument', `"${hash}" is not a lower-case hex SHA-256`);
    return hash;
  };
  const chunkPath = (hash: string) => join(dir, 'chunks', checked(hash).slice(0, 2), hash);
  // Partials live apart from chunks: nothing that lists or counts chunks ever takes one for a chunk.
  const partialPath = (hash: string) => join(dir, 'partial', checked(hash));
  // encodeURIComponent keeps a model name from becoming a path (`../x`).
  const modelPath = (name: string, revision: string) => join(dir, 'models', `${encodeURIComponent(modelKey(name, revision))}.json`);

  async function atomicWrite(target: string, bytes: Uint8Array | string): Promise<void> {
    const tmpDir = join(dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    try {
      await writeFile(tmp, bytes);
      await mkdir(join(target, '..'), { recursive: true });
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw cacheError(`could not write ${target}`, err);
    }
  }

  async function readRecords(): Promise<ModelRecord[]> {
    const names = await readdir(join(dir, 'models')).catch(() => [] as string[]);
    const out: ModelRecord[] = [];
    for (const file of names) {
      if (!file.endsWith('.json')) continue;
      const text = await readFile(join(dir, 'models', file), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      try {
        out.push(JSON.parse(text) as ModelRecord);
      } catch {
        // A record is written atomically, so this is foreign or hand-edited: skip it rather than fail every listing.
      }
    }
    return out;
  }

  async function readRecord(name: string, revision: string): Promise<ModelRecord | undefined> {
    const text = await readFile(modelPath(name, revision), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as ModelRecord);
  }

  return {
    async hasChunks(hashes) {
      return Promise.all(hashes.map((h) => stat(chunkPath(h)).then((s) => s.isFile(), () => false)));
    },
    async getChunk(hash) {
      try {
        return new Uint8Array(await readFile(chunkPath(hash)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw cacheError(`could not read chunk ${hash}`, err);
      }
    },
    async putChunk(hash, bytes) {
      const target = chunkPath(hash);
      if (await stat(target).then(() => true, () => false)) return;
      await atomicWrite(target, bytes);
    },
    async getPartial(hash) {
      try {
        return new Uint8Array(await readFile(partialPath(hash)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw cacheError(`could not read the partial chunk ${hash}`, err);
      }
    },
    async putPartial(hash, bytes) {
      await atomicWrite(partialPath(hash), bytes);
    },
    async deletePartial(hash) {
      await rm(partialPath(hash), { force: true });
    },
    async getManifest(name, revision) {
      return (await readRecord(name, revision))?.manifest;
    },
    async putManifest(manifest: PackManifest) {
      const previous = await readRecord(manifest.name, manifest.revision);
      const record: ModelRecord = { manifest, lastUsed: previous?.lastUsed ?? now() };
      await atomicWrite(modelPath(manifest.name, manifest.revision), JSON.stringify(record));
    },
    async touch(name, revision, when = now()) {
      const record = await readRecord(name, revision);
      if (!record) return;
      record.lastUsed = when;
      await atomicWrite(modelPath(name, revision), JSON.stringify(record));
    },
    async listModels(): Promise<CachedModel[]> {
      return (await readRecords()).map(toCachedModel);
    },
    async deleteModel(name, revision) {
      const { doomed, kept } = partitionModels(await readRecords(), name, revision);
      // Records first: a crash in between leaves unreferenced chunks (harmless), never a record missing chunks.
      for (const r of doomed) await rm(modelPath(r.manifest.name, r.manifest.revision), { force: true });
      for (const hash of orphanChunks(doomed.map((r) => r.manifest), kept.map((r) => r.manifest))) {
        await rm(chunkPath(hash), { force: true });
      }
    },
    async clear() {
      for (const sub of ['models', 'chunks', 'partial', 'tmp']) await rm(join(dir, sub), { recursive: true, force: true });
    },
    async estimate(): Promise<StorageEstimate> {
      await mkdir(dir, { recursive: true });
      const fs = await statfs(dir);
      return { available: fs.bavail * fs.bsize, used: await chunkBytes(join(dir, 'chunks')), persisted: true };
    },
    async persist() {
      return true;
    },
  };
}

async function chunkBytes(chunksDir: string): Promise<number> {
  let total = 0;
  for (const prefix of await readdir(chunksDir).catch(() => [] as string[])) {
    for (const name of await readdir(join(chunksDir, prefix)).catch(() => [] as string[])) {
      total += await stat(join(chunksDir, prefix, name)).then((s) => s.size, () => 0);
    }
  }
  return total;
}

function cacheError(message: string, cause: unknown): TesseraError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new TesseraError('quota-exceeded', `${message}: the disk is full; free space or load with cache: 'memory'`, { cause });
  }
  return new TesseraError('cache-error', `${message}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}
