/**
 * `tessera pack`: turns an ONNX file (with or without external data) or a
 * Hugging Face-style folder into a pack: the model's files, re-laid out so no
 * file exceeds `maxFileSize`, plus `manifest.json` with every file's SHA-256
 * and its chunks' SHA-256. Files are streamed and hashed in the same pass;
 * the only thing held whole in memory is one `.onnx` protobuf at a time
 * (protobuf caps those at 2 GiB, and with external data they are small).
 * Node only.
 */
import { readFile, readdir, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve, sep } from 'node:path';
import { TesseraError, throwIfAborted } from '../errors.ts';
import { assembleManifest, validateChunkSize, validatePackPath } from './build-manifest.ts';
import { externalizeInitializers } from './externalize-initializers.ts';
import { fileRoleOf } from './file-role.ts';
import { HashingFileWriter, type HashedFile } from './hashing-file-writer.ts';
import { DEFAULT_CHUNK_SIZE, MAX_FILE_SIZE, type FileRole, type PackFile, type PackGraph, type PackManifest } from './manifest.ts';
import { decodeModel, encodeModel, externalDataEntries, graphTensors, isExternal } from './onnx-model.ts';
import { writeExternalData } from './write-external-data.ts';

export interface PackProgress {
  /** Pack path of the file being written. */
  file: string;
  bytesDone: number;
  /** Grows as graphs are re-laid out (it starts as the input's size). */
  bytesTotal: number;
}

export interface PackModelOptions {
  /** Output folder; created if missing. Must not be the input's folder. */
  out: string;
  chunkSize?: number;
  /** Model name in the manifest. Default: the file name without `.onnx`, or the folder's name. */
  name?: string;
  /** Largest file in the pack. Default 2 GiB - 1. */
  maxFileSize?: number;
  /** Move inline weights to external data (default true). External data is always re-laid out. */
  externalize?: boolean;
  /** Inline initializers smaller than this stay inline. Default 1024. */
  minBytes?: number;
  onProgress?: (progress: PackProgress) => void;
  signal?: AbortSignal;
}

export interface PackResult {
  manifest: PackManifest;
  manifestPath: string;
  outDir: string;
}

const PIECE = 4 * 1024 * 1024;

/**
 * @example
 * const { manifest } = await packModel('model.onnx', { out: 'packs/model', chunkSize: 8 << 20 });
 * console.log(manifest.revision, manifest.totalBytes);
 */
export async function packModel(input: string, options: PackModelOptions): Promise<PackResult> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  validateChunkSize(chunkSize);
  const maxFileSize = options.maxFileSize ?? MAX_FILE_SIZE;
  const inputPath = resolve(input);
  const outDir = resolve(options.out);
  const info = await stat(inputPath).catch(() => undefined);
  if (!info) throw new TesseraError('not-found', `${input} does not exist: give an .onnx file or a Hugging Face-style model folder`, { details: { file: input } });
  const kind: PackManifest['kind'] = info.isDirectory() ? 'hf' : 'onnx';
  const sourceDir = kind === 'hf' ? inputPath : dirname(inputPath);
  if (outDir === sourceDir || (kind === 'hf' && outDir.startsWith(sourceDir + sep))) {
    throw new TesseraError('invalid-argument', `--out ${options.out} is the input's own folder (or inside it); choose another folder so the input is not overwritten while it is read`);
  }
  const name = options.name ?? (kind === 'hf' ? basename(inputPath) : basename(inputPath).replace(/\.onnx$/i, ''));

  // Every file under the input, as pack paths (POSIX, relative), sorted so the output order never depends on the file system.
  const sourceFiles = kind === 'hf' ? await listFiles(sourceDir) : [basename(inputPath)];
  const graphPaths = kind === 'hf' ? sourceFiles.filter((p) => p.toLowerCase().endsWith('.onnx')) : sourceFiles;
  if (graphPaths.length === 0) throw new TesseraError('invalid-model', `${input} holds no .onnx graph`, { details: { file: input } });

  await mkdir(outDir, { recursive: true });
  // A stale manifest must not describe files this run is about to overwrite.
  await rm(join(outDir, 'manifest.json'), { force: true });

  // Sizes are read once: they seed the progress total, and graphs take back what their data files counted.
  const sourceSizes = new Map<string, number>();
  for (const p of sourceFiles) sourceSizes.set(p, (await stat(join(sourceDir, ...p.split('/')))).size);
  let bytesTotal = [...sourceSizes.values()].reduce((sum, n) => sum + n, 0);
  let bytesDone = 0;
  const progress = (file: string) => (n: number) => {
    bytesDone += n;
    options.onProgress?.({ file, bytesDone, bytesTotal: Math.max(bytesTotal, bytesDone) });
  };

  const files: PackFile[] = [];
  const graphs: PackGraph[] = [];
  const consumed = new Set<string>(graphPaths);
  const written = new Set<string>();
  const claim = async (packPath: string) => {
    validatePackPath(packPath);
    if (written.has(packPath)) throw new TesseraError('invalid-model', `two files in the pack would both be written to ${packPath}`, { details: { file: packPath } });
    written.add(packPath);
    const abs = join(outDir, ...packPath.split('/'));
    await mkdir(dirname(abs), { recursive: true });
    return abs;
  };

  for (const graphPath of graphPaths) {
    throwIfAborted(options.signal);
    const graphDir = posix.dirname(graphPath);
    const absGraph = join(sourceDir, ...graphPath.split('/'));
    const bytes = await readFile(absGraph);
    const model = decodeModel(bytes, relative(process.cwd(), absGraph) || graphPath);
    const absGraphDir = dirname(absGraph);
    // The estimate counted this graph and the data files it reads; from here
    // on, the total counts what is written for them instead.
    bytesTotal -= bytes.byteLength;
    for (const { tensor } of graphTensors(model.graph ?? {})) {
      const location = isExternal(tensor) ? externalDataEntries(tensor).get('location') : undefined;
      const packPath = location ? posix.normalize(posix.join(graphDir, location)) : undefined;
      if (packPath && !consumed.has(packPath)) {
        consumed.add(packPath);
        bytesTotal -= sourceSizes.get(packPath) ?? 0;
      }
    }
    const plan = externalizeInitializers(model, {
      baseName: posix.basename(graphPath),
      maxFileSize,
      externalize: options.externalize,
      minBytes: options.minBytes,
      file: graphPath,
      sizeOf: (location) => {
        try {
          const s = statSync(join(absGraphDir, location));
          return s.isFile() ? s.size : undefined;
        } catch {
          return undefined;
        }
      },
    });
    const externalData: string[] = [];
    bytesTotal += plan.files.reduce((sum, f) => sum + f.size, 0);
    for (const file of plan.files) {
      const packPath = graphDir === '.' ? file.location : `${graphDir}/${file.location}`;
      const hashed = await writeExternalData(file, await claim(packPath), { sourceDir: absGraphDir, chunkSize, onBytes: progress(packPath), signal: options.signal });
      files.push(packFile(packPath, 'external-data', hashed));
      externalData.push(packPath);
    }
    const graphBytes = encodeModel(model);
    if (graphBytes.byteLength > maxFileSize) {
      throw new TesseraError('invalid-model', `${graphPath} would be ${graphBytes.byteLength} bytes, more than the largest file allowed (${maxFileSize}); pack it with its weights moved to external data`, { details: { file: graphPath } });
    }
    bytesTotal += graphBytes.byteLength;
    const writer = await HashingFileWriter.create(await claim(graphPath), chunkSize);
    await writer.write(graphBytes);
    progress(graphPath)(graphBytes.byteLength);
    files.push(packFile(graphPath, 'graph', await writer.close()));
    graphs.push({ path: graphPath, externalData });
  }

  for (const path of sourceFiles) {
    if (consumed.has(path)) continue;
    throwIfAborted(options.signal);
    const hashed = await copyHashed(join(sourceDir, ...path.split('/')), await claim(path), chunkSize, progress(path), options.signal);
    if (hashed.size > maxFileSize) {
      throw new TesseraError('invalid-model', `${path} is ${hashed.size} bytes, more than the largest file allowed (${maxFileSize})`, { details: { file: path } });
    }
    files.push(packFile(path, fileRoleOf(path), hashed));
  }

  const manifest = await assembleManifest({ name, kind, graphs, files, chunkSize });
  const manifestPath = join(outDir, 'manifest.json');
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, manifestPath, outDir };
}

function packFile(path: string, role: FileRole, hashed: HashedFile): PackFile {
  return { path, size: hashed.size, sha256: hashed.sha256, role, chunks: hashed.chunks };
}

async function copyHashed(from: string, to: string, chunkSize: number, onBytes: (n: number) => void, signal?: AbortSignal): Promise<HashedFile> {
  const source = await open(from, 'r');
  const writer = await HashingFileWriter.create(to, chunkSize);
  try {
    const buffer = new Uint8Array(PIECE);
    for (;;) {
      throwIfAborted(signal);
      const { bytesRead } = await source.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) break;
      await writer.write(buffer.subarray(0, bytesRead));
      onBytes(bytesRead);
    }
    return await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  } finally {
    await source.close();
  }
}

/** Files under `dir` as sorted POSIX paths, skipping hidden entries (.git, .cache, ...). */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
