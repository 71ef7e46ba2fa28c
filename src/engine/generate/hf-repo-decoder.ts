/**
 * A decoder straight from a Hugging Face-style repository
 * (`<host>/<org>/<model>/resolve/<rev>/`), without a manifest: each file
 * through loadHfFile (ranged, cached, checked against the SHA-256 the hub
 * gives). The graph variant is found by probing its usual names, its
 * external data files are read from the graph's own `location` fields, and
 * the files' hashes make a manifest, so the generator describes its source
 * as a pack-loaded one does.
 */
import type { ModelCache } from '../../cache/model-cache.ts';
import { TesseraError, throwIfAborted } from '../../errors.ts';
import { loadHfFile, type HfFileResult } from '../../fetch/hf-file.ts';
import { assembleManifest } from '../../pack/build-manifest.ts';
import type { PackFile, PackManifest } from '../../pack/manifest.ts';
import { decodeModel, externalDataEntries, graphTensors, isExternal } from '../../pack/onnx-model.ts';
import { DECODER_DTYPES, type DecoderDtype } from '../../protocol/worker-messages.ts';
import { variantPaths } from './choose-variant.ts';

export interface HfRepoDecoderOptions {
  cache: ModelCache;
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal;
  dtype?: DecoderDtype;
}

/**
 * @example
 * const { manifest, files, dtype } = await loadHfRepoDecoder('http://127.0.0.1:8080/org/llm/resolve/main/', { cache });
 */
export async function loadHfRepoDecoder(repoUrl: string, options: HfRepoDecoderOptions): Promise<{ manifest: PackManifest; files: Map<string, Uint8Array>; dtype: DecoderDtype }> {
  const repo = repoUrl.endsWith('/') ? repoUrl : `${repoUrl}/`;
  const files = new Map<string, Uint8Array>();
  const entries: PackFile[] = [];
  let chunkSize = 0;
  const load = async (path: string): Promise<HfFileResult | undefined> => {
    throwIfAborted(options.signal);
    const result = await loadHfFile(repo, path, {
      cache: options.cache,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (result) {
      files.set(path, result.data);
      entries.push(result.manifest.files[0] as PackFile);
      chunkSize = result.manifest.chunkSize;
    }
    return result;
  };
  const required = async (path: string) => {
    if (!(await load(path))) throw new TesseraError('invalid-model', `${repo} has no ${path}: a decoder repository needs config.json and tokenizer.json beside onnx/`, { details: { file: path } });
  };
  await required('config.json');
  await required('tokenizer.json');
  await load('tokenizer_config.json');
  await load('generation_config.json');

  let found: { path: string; dtype: DecoderDtype } | undefined;
  for (const dtype of options.dtype ? [options.dtype] : DECODER_DTYPES) {
    for (const path of variantPaths(dtype)) {
      if (await load(path)) {
        found = { path, dtype };
        break;
      }
    }
    if (found) break;
  }
  if (!found) {
    const what = options.dtype ? `${options.dtype} graph (looked for ${variantPaths(options.dtype).join(', ')})` : 'decoder graph (looked for onnx/model.onnx, model_fp16.onnx, model_quantized.onnx, model_q4.onnx, ...)';
    throw new TesseraError(options.dtype ? 'invalid-argument' : 'invalid-model', `${repo} has no ${what}`, { details: { repo } });
  }
  // External data named by the graph itself, relative to the graph's folder.
  const folder = found.path.slice(0, found.path.lastIndexOf('/') + 1);
  const model = decodeModel(files.get(found.path) as Uint8Array, found.path);
  const locations = new Set<string>();
  for (const { tensor } of graphTensors(model.graph ?? {})) {
    const location = isExternal(tensor) ? externalDataEntries(tensor).get('location') : undefined;
    if (location) locations.add(location);
  }
  const externalData: string[] = [];
  for (const location of locations) {
    const path = folder + location;
    if (!(await load(path))) throw new TesseraError('invalid-model', `${found.path} reads its weights from ${location}, which ${repo} does not have`, { details: { file: path } });
    externalData.push(path);
  }
  const name = decodeURIComponent(new URL(repo).pathname.split('/resolve/')[0]?.replace(/^\/+/, '') ?? 'model') || 'model';
  const manifest = await assembleManifest({ name, kind: 'hf', graphs: [{ path: found.path, externalData }], files: entries, chunkSize });
  return { manifest, files, dtype: found.dtype };
}
