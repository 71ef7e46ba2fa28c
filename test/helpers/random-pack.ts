/**
 * Writes a pack of random (incompressible) bytes to disk for loader tests,
 * until the real fixtures (`fixtures.ts`) exist and alongside them: tests of
 * sharing need two packs with chosen common chunks.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildManifest } from '../../src/pack/build-manifest.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';

export interface RandomPackFile {
  path: string;
  /** Content; or `size` random bytes. */
  bytes?: Uint8Array;
  size?: number;
}

/**
 * @example
 * const { manifest, files } = await writeRandomPack('.cache/t/a', { name: 'a', chunkSize: 4096, files: [{ path: 'w.bin', size: 40_000 }] });
 */
export async function writeRandomPack(
  dir: string,
  options: { name: string; chunkSize: number; files: RandomPackFile[] },
): Promise<{ manifest: PackManifest; files: Map<string, Uint8Array> }> {
  const files = new Map<string, Uint8Array>();
  for (const f of options.files) files.set(f.path, f.bytes ?? new Uint8Array(randomBytes(f.size ?? 0)));
  const paths = [...files.keys()];
  const manifest = await buildManifest({
    name: options.name,
    kind: 'onnx',
    chunkSize: options.chunkSize,
    graphs: [{ path: paths[0] as string, externalData: paths.slice(1) }],
    files: paths.map((path, i) => ({ path, bytes: files.get(path) as Uint8Array, role: i === 0 ? 'graph' : 'external-data' })),
  });
  for (const [path, bytes] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { manifest, files };
}
