import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { renderText } from '../helpers/render-text.ts';

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({ write(chunk, _encoding, done) { text += String(chunk); done(); } });
  return { stream, text: () => text };
}

let dir: string;
let imagePath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-ocr-'));
  const image = await renderText({ lines: ['Tessera reads this line', 'and this second one 42'], family: 'DejaVu Sans', size: 28 });
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data);
  imagePath = join(dir, 'sample.png');
  await writeFile(imagePath, PNG.sync.write(png));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Json = { text: string; lines: { text: string; box: number[][]; score: number }[] };

describe('tessera ocr <image> (native and wasm in Node)', () => {
  it('prints the text of a PNG on wasm and on native cpu (auto), the same lines, boxes and scores within tolerance', async () => {
    const out = capture();
    const err = capture();
    expect(await runCli(['ocr', imagePath, '--device', 'wasm'], { stdout: out.stream, stderr: err.stream })).toBe(0);
    expect(out.text()).toBe('Tessera reads this line\nand this second one 42\n');
    expect(err.text()).toMatch(/^device wasm \(wasm: requested\)\n/);
    expect(err.text()).toMatch(/2 line\(s\) in \d+x\d+; det \d+ ms, cls \d+ ms, rec \d+ ms \(wasm\)/);
    console.log(`Node wasm: ${err.text().trim()}`);

    const nativeOut = capture();
    const nativeErr = capture();
    expect(await runCli(['ocr', imagePath], { stdout: nativeOut.stream, stderr: nativeErr.stream })).toBe(0);
    expect(nativeOut.text()).toBe(out.text());
    expect(nativeErr.text()).toMatch(/^device cpu \(cpu: onnxruntime-node 1\.\d+\.\d+, \d+ threads?.*\)\n/);
    console.log(`Node native: ${nativeErr.text().trim()}`);

    const [wasmJson, nativeJson] = [capture(), capture()];
    expect(await runCli(['ocr', imagePath, '--json', '--device', 'wasm'], { stdout: wasmJson.stream, stderr: capture().stream })).toBe(0);
    expect(await runCli(['ocr', imagePath, '--json', '--device', 'cpu', '--threads', '1'], { stdout: nativeJson.stream, stderr: capture().stream })).toBe(0);
    const [w, n] = [JSON.parse(wasmJson.text()) as Json, JSON.parse(nativeJson.text()) as Json];
    expect(n.lines.map((l) => l.text)).toEqual(w.lines.map((l) => l.text));
    n.lines.forEach((line, i) => {
      const other = w.lines[i]!;
      expect(Math.abs(line.score - other.score)).toBeLessThan(1e-3);
      // Same probability map up to float32 rounding: the boxes agree within a pixel.
      line.box.forEach((p, j) => p.forEach((v, k) => expect(Math.abs(v - other.box[j]![k]!)).toBeLessThanOrEqual(1)));
    });

    const json = capture();
    expect(await runCli(['ocr', imagePath, '--json'], { stdout: json.stream, stderr: capture().stream })).toBe(0);
    const result = JSON.parse(json.text()) as { text: string; lines: { text: string; box: number[][]; score: number }[] };
    expect(result.lines.map((l) => l.text)).toEqual(['Tessera reads this line', 'and this second one 42']);
    expect(result.lines[0]!.box).toHaveLength(4);
    expect(result.lines[0]!.score).toBeGreaterThan(0.8);
  });

  it('fails with a coded error for a missing file or a file that is not an image', async () => {
    const err = capture();
    expect(await runCli(['ocr', join(dir, 'missing.png')], { stdout: capture().stream, stderr: err.stream })).toBe(1);
    expect(err.text()).toMatch(/^error \[not-found\]: cannot read the image/);
    const notImage = join(dir, 'notes.txt');
    await writeFile(notImage, 'hello');
    const err2 = capture();
    expect(await runCli(['ocr', notImage], { stdout: capture().stream, stderr: err2.stream })).toBe(2);
    expect(err2.text()).toMatch(/^error \[invalid-argument\]: the image is neither PNG nor JPEG/);
  });

  it('refuses an unknown device and an uninstalled provider, saying what is installed', async () => {
    const err = capture();
    expect(await runCli(['ocr', imagePath, '--device', 'gpu'], { stdout: capture().stream, stderr: err.stream })).toBe(2);
    expect(err.text()).toMatch(/^error \[invalid-argument\]: --device must be one of auto, webgpu, wasm, cpu, cuda, dml, coreml, got "gpu"/);
    const { detectNativeProviders } = await import('../../src/backend/ort-node.ts');
    const { installed } = await detectNativeProviders();
    const absent = ['cuda', 'dml', 'coreml'].find((p) => !(installed as string[]).includes(p))!;
    const err2 = capture();
    expect(await runCli(['ocr', imagePath, '--device', absent], { stdout: capture().stream, stderr: err2.stream })).not.toBe(0);
    expect(err2.text()).toMatch(new RegExp(`^error \\[device-unavailable\\]: device '${absent}' is not available: .*Installed: wasm, ${installed.join(', ')}`));
  });
});
