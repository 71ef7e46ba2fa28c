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

describe('tessera ocr <image> (wasm in Node)', () => {
  it('prints the text of a PNG, and JSON with boxes, scores and timings', async () => {
    const out = capture();
    const err = capture();
    expect(await runCli(['ocr', imagePath], { stdout: out.stream, stderr: err.stream })).toBe(0);
    expect(out.text()).toBe('Tessera reads this line\nand this second one 42\n');
    expect(err.text()).toMatch(/2 line\(s\) in \d+x\d+; det \d+ ms, cls \d+ ms, rec \d+ ms \(wasm\)/);
    console.log(`Node wasm: ${err.text().trim()}`);

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
});
