/**
 * Saves a model, optionally moving its weights into external data files next
 * to it (`model.onnx` + `model.onnx.data`, split at `maxFileSize`). Node only.
 */
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { externalizeInitializers } from './externalize-initializers.ts';
import { encodeModel } from './onnx-model.ts';
import type { ModelProto } from './onnx-types.ts';
import { writeExternalData } from './write-external-data.ts';

export interface WriteModelOptions {
  externalData?: boolean;
  maxFileSize?: number;
  /** Inline initializers smaller than this stay inline. Default 1024. */
  minBytes?: number;
}

/**
 * Writes `model` to `path` and returns the paths written (graph first).
 * The model object is rewritten in place when weights move out.
 *
 * @example
 * await writeModel(matmulChainModel({ d: 64, layers: 2, seed: 1 }), '.cache/m.onnx', { externalData: true });
 */
export async function writeModel(model: ModelProto, path: string, options: WriteModelOptions = {}): Promise<string[]> {
  const written = [path];
  if (options.externalData) {
    const plan = externalizeInitializers(model, {
      baseName: basename(path),
      maxFileSize: options.maxFileSize,
      minBytes: options.minBytes,
      sizeOf: () => undefined,
    });
    for (const file of plan.files) {
      const out = join(dirname(path), file.location);
      await writeExternalData(file, out, { sourceDir: dirname(path), chunkSize: 64 * 1024 * 1024 });
      written.push(out);
    }
  }
  await writeFile(path, encodeModel(model));
  return written;
}
