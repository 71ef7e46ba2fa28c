/**
 * Vitest globalSetup for the browser project (runs in Node, once): builds the
 * fixture packs, serves them with the range server, and hands the page its
 * URL through `inject('rangeServerUrl')`. The server sends CORS headers, so
 * the page (served by Vite on another port) fetches it cross-origin exactly
 * as a site would fetch a CDN.
 */
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildFixtures, type FixtureName } from './fixtures.ts';
import { startHfFixtures } from './hf-fixtures.ts';
import { startLlamaFixtures } from './llama-browser-fixtures.ts';
import { writeRandomPack } from './random-pack.ts';
import { startRangeServer } from './range-server.ts';

/** Packs only the loader's browser tests touch, so their byte counters and faults never meet another suite's. */
export const LOADER_PACKS = ['_loader/r1', '_loader/r2', '_loader/r3'] as const;

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the range server serving `.cache/fixtures`, e.g. `http://127.0.0.1:40123`. */
    rangeServerUrl: string;
    /** Manifest name and revision of each fixture pack (`/<key>/manifest.json` on the server). */
    fixturePacks: Record<FixtureName, { name: string; revision: string }>;
    /** Hub look-alike serving the tiny HF encoder at `/test/tiny-bert/resolve/main/` (with expected.json); see hf-fixtures.ts. */
    hfServerUrl: string;
    /** Manifest URL of the same encoder as a Tessera pack. */
    hfPackUrl: string;
    /** Manifest URL of the tiny LLaMA-style decoder pack; `../tiny-llama-expected.json` beside it (see llama-browser-fixtures.ts). */
    llamaPackUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { root, packs } = await buildFixtures();
  // Random (incompressible: Chromium compresses IndexedDB values) bytes, 1 MiB in 64 KiB chunks.
  for (const name of LOADER_PACKS) {
    await writeRandomPack(join(root, name), { name: name.replace('/', '-'), chunkSize: 64 * 1024, files: [{ path: 'model.onnx', size: 20_000 }, { path: 'weights.bin', size: 1024 * 1024 + 77 }] });
  }
  const server = await startRangeServer({ root });
  project.provide('rangeServerUrl', server.url);
  project.provide(
    'fixturePacks',
    Object.fromEntries(Object.entries(packs).map(([key, p]) => [key, { name: p.name, revision: p.revision }])) as Record<FixtureName, { name: string; revision: string }>,
  );
  const hf = await startHfFixtures();
  project.provide('hfServerUrl', hf.hubUrl);
  project.provide('hfPackUrl', hf.packUrl);
  const llama = await startLlamaFixtures();
  project.provide('llamaPackUrl', llama.packUrl);
  return async () => {
    await Promise.all([server.close(), hf.close(), llama.close()]);
  };
}
