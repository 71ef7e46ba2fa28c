import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeModelCache } from '../../test/helpers/cache-contract.ts';
import { sha256Hex } from '../pack/sha256.ts';
import { createFsCache, defaultCacheDir } from './fs-cache.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-fs-cache-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describeModelCache('fs cache', async () => createFsCache({ dir: await tempDir() }));

describe('fs cache layout', () => {
  it('defaults to $XDG_CACHE_HOME/tessera, else ~/.cache/tessera', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/tessera');
    expect(defaultCacheDir({})).toMatch(/\.cache\/tessera$/);
  });

  it('stores chunks at chunks/ab/<hash> via tmp + rename, leaving no temp files', async () => {
    const dir = await tempDir();
    const cache = createFsCache({ dir });
    const bytes = crypto.getRandomValues(new Uint8Array(5000));
    const hash = await sha256Hex(bytes);
    await cache.putChunk(hash, bytes);
    expect(await readdir(join(dir, 'chunks', hash.slice(0, 2)))).toEqual([hash]);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect((await cache.estimate()).used).toBe(5000);
  });

  it('ignores a half-written temp file from a crash', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'crashed'), new Uint8Array(10));
    const cache = createFsCache({ dir });
    expect(await cache.hasChunks(['a'.repeat(64)])).toEqual([false]);
    expect(await cache.listModels()).toEqual([]);
  });

  it('rejects a key that is not a hash (no path tricks)', async () => {
    const cache = createFsCache({ dir: await tempDir() });
    await expect(cache.putChunk('../../etc/passwd', new Uint8Array(1))).rejects.toMatchObject({ code: 'invalid-argument' });
  });
});
