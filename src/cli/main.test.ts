import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackManifest } from '../pack/manifest.ts';

const run = promisify(execFile);
const BIN = resolve('bin/tessera.js');

/** Runs the real CLI in a child process with the Node that runs the tests (22+, strips types). */
async function tessera(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tessera CLI', () => {
  it('generates a model and packs it', async () => {
    const model = join(dir, 'mlp.onnx');
    const gen = await tessera('generate', 'matmul-chain', '--size', '1MiB', '--out', model, '--external-data', '--seed', '3');
    expect(gen.stderr).toBe('');
    expect(gen.code).toBe(0);
    expect(gen.stdout).toMatch(/generated matmul-chain \(d=\d+, layers=4/);
    const out = join(dir, 'pack');
    const packed = await tessera('pack', model, '--out', out, '--chunk-size', '128KiB', '--name', 'tiny', '--max-file-size', '512KiB');
    expect(packed.code).toBe(0);
    expect(packed.stdout).toMatch(/^packed tiny \(revision [0-9a-f]{16}\): \d+ files/);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as PackManifest;
    expect(manifest.name).toBe('tiny');
    expect(manifest.chunkSize).toBe(128 * 1024);
    expect(manifest.graphs[0]!.externalData.length).toBeGreaterThan(1);
    for (const f of manifest.files) expect(f.size).toBeLessThanOrEqual(512 * 1024);
  });

  it('generates a LLaMA-style decoder folder and packs it (onnx/ subfolder)', async () => {
    const out = join(dir, 'llama');
    const gen = await tessera('generate', 'llama-decoder', '--out', out, '--layers', '1', '--hidden', '32', '--vocab', '300', '--max-positions', '32', '--fp16', '--q8', '--q4');
    expect(gen.stderr).toBe('');
    expect(gen.stdout).toMatch(/generated llama-decoder \(layers=1, hidden=32, heads=4, intermediate=\d+, vocab=300, maxPositions=32, seed=1; 0\.\d+M parameters\)/);
    expect(gen.stdout).toContain('onnx/model.onnx.data');
    const packed = await tessera('pack', out, '--out', join(dir, 'llama-pack'), '--chunk-size', '64KiB');
    expect(packed.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(dir, 'llama-pack', 'manifest.json'), 'utf8')) as PackManifest;
    expect(manifest.graphs).toEqual([
      { path: 'onnx/model.onnx', externalData: ['onnx/model.onnx.data'] },
      { path: 'onnx/model_fp16.onnx', externalData: ['onnx/model_fp16.onnx.data'] },
      { path: 'onnx/model_q4.onnx', externalData: ['onnx/model_q4.onnx.data'] },
      { path: 'onnx/model_quantized.onnx', externalData: ['onnx/model_quantized.onnx.data'] },
    ]);
    expect(manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']));
    const bad = await tessera('generate', 'llama-decoder', '--out', join(dir, 'bad'), '--hidden', '30');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid-argument.*hidden \(30\) must be a multiple of 2 \* heads/);
    const badBlock = await tessera('generate', 'llama-decoder', '--out', join(dir, 'bad-block'), '--hidden', '32', '--q4', '--q4-block-size', '24');
    expect(badBlock.code).toBe(2);
    expect(badBlock.stderr).toMatch(/invalid-argument.*block size must be a power of two >= 16, got 24/);
    await expect(readFile(join(dir, 'bad-block', 'config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('exits 2 with a clear message on bad arguments', async () => {
    const missingOut = await tessera('pack', join(dir, 'x.onnx'));
    expect(missingOut.code).toBe(2);
    expect(missingOut.stderr).toMatch(/^error \[invalid-argument\]: required option '-o, --out <dir>' not specified/);
    const badSize = await tessera('pack', join(dir, 'x.onnx'), '--out', join(dir, 'o'), '--chunk-size', 'lots');
    expect(badSize.code).toBe(2);
    expect(badSize.stderr).toMatch(/error \[invalid-argument\]: --chunk-size "lots" is not a size/);
    const badKind = await tessera('generate', 'resnet', '--out', join(dir, 'r.onnx'));
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(/Allowed choices are matmul-chain, transformer-block, llama-decoder/);
    const unknown = await tessera('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/error \[invalid-argument\]: unknown command 'frobnicate'/);
  });

  it('exits 1 with the error code on a corrupt model', async () => {
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, 'this is text, not protobuf\n');
    const result = await tessera('pack', bad, '--out', join(dir, 'bad-out'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error \[invalid-model\]: .*bad\.onnx is not a valid ONNX model/);
  });

  it('prints help with exit code 0', async () => {
    const help = await tessera('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/pack \[options\] <input>/);
    expect(help.stdout).toMatch(/generate \[options\] <kind>/);
  });
});
