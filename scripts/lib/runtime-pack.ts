/**
 * Packs the `.wasm` files of the built app (dist/) as the `onnxruntime-web`
 * pack, so the Worker can serve them from R2: Workers static assets stop at
 * 25 MiB a file and ONNX Runtime Web's WebGPU build is larger
 * (worker/routes/runtime-assets.ts redirects `/assets/*.wasm` to the pack).
 */
import { mkdir, readdir, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { buildManifest } from '../../src/pack/build-manifest.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';

export const RUNTIME_PACK = 'onnxruntime-web';

async function wasmFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await wasmFiles(path, root)));
    else if (entry.name.endsWith('.wasm')) out.push(relative(root, path).split('\\').join('/'));
  }
  return out.sort();
}

/**
 * Reuses the pack while the wasm files' names, sizes and mtimes match the
 * stamp beside it (`<outDir>.source.json`), as prepareDefaultModel does: the
 * files are tens of MB, and `npm start` would otherwise hash them every time.
 *
 * @example
 * const { manifest, packDir } = await packRuntimeAssets('dist', '.tessera/packs/onnxruntime-web');
 * await publishDir(packDir, { baseUrl, token });
 */
export async function packRuntimeAssets(distDir: string, outDir: string): Promise<{ manifest: PackManifest; packDir: string } | undefined> {
  const paths = await wasmFiles(distDir);
  if (paths.length === 0) return undefined;
  const stampPath = `${outDir}.source.json`;
  const stamp = JSON.stringify(await Promise.all(paths.map(async (path) => {
    const info = await stat(join(distDir, path));
    return [path, info.size, Math.round(info.mtimeMs)];
  })));
  const previous = await readFile(join(outDir, 'manifest.json'), 'utf8').then((t) => JSON.parse(t) as PackManifest, () => undefined);
  if (previous && (await readFile(stampPath, 'utf8').catch(() => undefined)) === stamp) return { manifest: previous, packDir: outDir };
  const files = await Promise.all(paths.map(async (path) => ({ path, bytes: new Uint8Array(await readFile(join(distDir, path))), role: 'other' as const })));
  const manifest = await buildManifest({ name: RUNTIME_PACK, kind: 'hf', graphs: [], files });
  if (previous?.revision !== manifest.revision) {
    await rm(outDir, { recursive: true, force: true });
    for (const path of paths) {
      await mkdir(join(outDir, path, '..'), { recursive: true });
      await copyFile(join(distDir, path), join(outDir, path));
    }
    await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  await writeFile(stampPath, stamp);
  return { manifest, packDir: outDir };
}
