/**
 * onnxruntime-node is a Node-only runtime dependency: the browser builds (the
 * PWA, embed.js, the engine and HF workers they spawn) must never contain it
 * nor the Node session code. Checked on the real `vite build` output, since a
 * dynamic import a bundler follows would put it into a chunk even if no
 * browser ever ran it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let out: string;
let files: { path: string; text: string }[];

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return nested.flat();
}

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'tessera-bundle-'));
  await build({ configFile: resolve('vite.config.ts'), logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  const paths = (await walk(out)).filter((p) => /\.(m?js)$/.test(p));
  files = await Promise.all(paths.map(async (path) => ({ path, text: await readFile(path, 'utf8') })));
}, 240_000);
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('browser bundles (vite build of src/app and src/embed)', () => {
  it('contain onnxruntime-web and the engine, and nothing of onnxruntime-node or the Node session code', () => {
    // The build is what we think it is: the embed entry, the engine worker and onnxruntime-web are in it.
    expect(files.map((f) => f.path.slice(out.length + 1))).toContain('embed.js');
    expect(files.some((f) => f.text.includes('ort-wasm-simd-threaded'))).toBe(true);
    expect(files.some((f) => f.text.includes('tessera-engine'))).toBe(true);
    const forbidden: [string, RegExp][] = [
      ['an import of onnxruntime-node', /(?:from|import\(|require\()\s*["']onnxruntime-node["']/],
      ['the native binding', /onnxruntime_binding|napi-v6/],
      ["onnxruntime-node's provider list", /listSupportedBackends/],
      // Not `worker_threads` itself: onnxruntime-web's Emscripten glue names it for its own Node path.
      ['the Node engine process', /node-engine-process/],
    ];
    const found = files.flatMap((f) => forbidden.filter(([, re]) => re.test(f.text)).map(([what]) => `${what} in ${f.path.slice(out.length + 1)}`));
    expect(found).toEqual([]);
  });
});
