/**
 * Small packs for the loader, cache, session and browser tests, generated once
 * under `.cache/fixtures` and reused while valid:
 *
 * - `mlp`: matmul-chain (~3 MiB, 4 layers), external data, 256 KiB chunks.
 * - `mlp-v2`: the same model (manifest name `mlp`, a new revision) with only
 *   the last layer's weights changed: most chunks are shared with `mlp`.
 * - `block`: transformer-block (~2 MiB), external data, 256 KiB chunks.
 *
 * Each pack has `expected.json` (not in the manifest): a seeded input and the
 * outputs onnxruntime-node gives for it on the packed files. Layout:
 * `<root>/<name>/manifest.json` + files, so a static server on `<root>` serves
 * `/<name>/manifest.json`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { generateModelFile, type GenerateModelOptions } from '../../src/cli/generate-model.ts';
import { randomFloats } from '../../src/pack/generate/seeded-random.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { packModel } from '../../src/pack/pack-model.ts';

export type FixtureName = 'mlp' | 'mlp-v2' | 'block';

export interface FixturePack {
  dir: string;
  manifestPath: string;
  /** Manifest name and revision (mlp and mlp-v2 share the name `mlp`). */
  name: string;
  revision: string;
}

export interface Fixtures {
  root: string;
  packs: Record<FixtureName, FixturePack>;
}

export interface ExpectedTensor {
  dims: number[];
  type: 'float32';
  data: number[];
}

/** The shape of `<pack>/expected.json`. */
export interface Expected {
  inputs: Record<string, ExpectedTensor>;
  outputs: Record<string, ExpectedTensor>;
}

/** Bump when the generator or packer changes what the fixtures contain. */
const FIXTURE_VERSION = 1;
const CHUNK_SIZE = 256 * 1024;

const SPECS: Record<FixtureName, { manifestName: string; model: GenerateModelOptions; batchDims: (d: number) => number[] }> = {
  mlp: { manifestName: 'mlp', model: { kind: 'matmul-chain', sizeBytes: 3 * 1024 * 1024, seed: 1, layers: 4 }, batchDims: (d) => [2, d] },
  'mlp-v2': {
    manifestName: 'mlp',
    model: { kind: 'matmul-chain', sizeBytes: 3 * 1024 * 1024, seed: 1, layers: 4, layerSeeds: { 3: 20240601 } },
    batchDims: (d) => [2, d],
  },
  block: { manifestName: 'block', model: { kind: 'transformer-block', sizeBytes: 2 * 1024 * 1024, seed: 3 }, batchDims: (d) => [2, 8, d] },
};

/**
 * @example
 * const { root, packs } = await buildFixtures();
 * const url = `${server.url}/mlp/manifest.json`; // server serving `root`
 */
export async function buildFixtures(root = '.cache/fixtures'): Promise<Fixtures> {
  const absRoot = resolve(root);
  await mkdir(absRoot, { recursive: true });
  const packs = {} as Record<FixtureName, FixturePack>;
  for (const name of Object.keys(SPECS) as FixtureName[]) {
    packs[name] = (await readValidPack(absRoot, name)) ?? (await buildPack(absRoot, name));
  }
  return { root: absRoot, packs };
}

/** Reads `<pack>/expected.json`. */
export async function readExpected(pack: FixturePack): Promise<Expected> {
  return JSON.parse(await readFile(join(pack.dir, 'expected.json'), 'utf8')) as Expected;
}

/** A pack is reused when its version stamp matches and every listed file has its listed size. */
async function readValidPack(root: string, name: FixtureName): Promise<FixturePack | undefined> {
  const dir = join(root, name);
  try {
    const stamp = JSON.parse(await readFile(join(dir, '.fixture.json'), 'utf8')) as { version: number };
    if (stamp.version !== FIXTURE_VERSION || !existsSync(join(dir, 'expected.json'))) return undefined;
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as PackManifest;
    for (const file of manifest.files) {
      if ((await stat(join(dir, file.path))).size !== file.size) return undefined;
    }
    return { dir, manifestPath: join(dir, 'manifest.json'), name: manifest.name, revision: manifest.revision };
  } catch {
    return undefined;
  }
}

/**
 * Builds in a private temporary folder and renames it into place, so test
 * files that call buildFixtures in parallel never see a half-written pack.
 */
async function buildPack(root: string, name: FixtureName): Promise<FixturePack> {
  const spec = SPECS[name];
  const work = join(root, `.build-${name}-${process.pid}-${Date.now()}`);
  const dir = join(root, name);
  try {
    await mkdir(join(work, 'src'), { recursive: true });
    const { shape } = await generateModelFile(spec.model, join(work, 'src', 'model.onnx'), { externalData: true });
    const { manifest } = await packModel(join(work, 'src', 'model.onnx'), { out: join(work, 'pack'), chunkSize: CHUNK_SIZE, name: spec.manifestName });
    const dims = spec.batchDims(shape.d);
    const input = randomFloats(dims.reduce((a, b) => a * b, 1), 7, 1);
    const session = await ort.InferenceSession.create(join(work, 'pack', 'model.onnx'));
    const result = await session.run({ input: new ort.Tensor('float32', input, dims) });
    await session.release();
    const output = result.output as ort.Tensor;
    const expected: Expected = {
      inputs: { input: { dims, type: 'float32', data: Array.from(input) } },
      outputs: { output: { dims: [...output.dims], type: 'float32', data: Array.from(output.data as Float32Array) } },
    };
    await writeFile(join(work, 'pack', 'expected.json'), `${JSON.stringify(expected)}\n`);
    await writeFile(join(work, 'pack', '.fixture.json'), `${JSON.stringify({ version: FIXTURE_VERSION })}\n`);
    const existing = await readValidPack(root, name);
    if (existing) return existing; // another process finished first
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(join(work, 'pack'), dir);
    } catch (error) {
      const raced = await readValidPack(root, name);
      if (raced) return raced;
      throw error;
    }
    return { dir, manifestPath: join(dir, 'manifest.json'), name: manifest.name, revision: manifest.revision };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
