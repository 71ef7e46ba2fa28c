/**
 * Which graph of a decoder pack to run: Optimum and transformers.js exports
 * put weight variants side by side (`onnx/model.onnx`, `model_fp16.onnx`,
 * `model_q4.onnx`, `model_quantized.onnx` / `model_int8.onnx` for 8-bit).
 * A `dtype` asked for must exist; without one the first that exists in the
 * order fp32, fp16, q8, q4 is taken (full precision first: it is what the
 * model was checked with).
 */
import { TesseraError } from '../../errors.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { DECODER_DTYPES, type DecoderDtype } from '../../protocol/worker-messages.ts';

const ORDER = DECODER_DTYPES;
const SUFFIXES: Record<DecoderDtype, string[]> = {
  fp32: [''],
  fp16: ['_fp16'],
  q8: ['_quantized', '_int8', '_uint8', '_q8'],
  q4: ['_q4'],
};
const STEMS = ['model', 'decoder_model_merged', 'decoder_model'];

/**
 * Where a variant would be in an HF folder, most usual name first (for a
 * repository without a manifest, which can only be probed).
 *
 * @example
 * variantPaths('q8'); // ['onnx/model_quantized.onnx', 'onnx/model_int8.onnx', ...]
 */
export function variantPaths(dtype: DecoderDtype): string[] {
  return STEMS.flatMap((stem) => SUFFIXES[dtype].map((suffix) => `onnx/${stem}${suffix}.onnx`));
}

/** The dtype a graph path names, or undefined when it is not a decoder variant. */
export function dtypeOfGraph(path: string): DecoderDtype | undefined {
  const file = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  for (const stem of STEMS) {
    for (const dtype of ORDER) {
      if (SUFFIXES[dtype].some((suffix) => file === `${stem}${suffix}.onnx`)) return dtype;
    }
  }
  return undefined;
}

/**
 * @example
 * chooseVariant(manifest, 'q4'); // { dtype: 'q4', graphIndex: 2, path: 'onnx/model_q4.onnx' }
 */
export function chooseVariant(manifest: PackManifest, dtype?: DecoderDtype): { dtype: DecoderDtype; graphIndex: number; path: string } {
  const found = manifest.graphs
    .map((g, graphIndex) => ({ graphIndex, path: g.path, dtype: dtypeOfGraph(g.path) }))
    .filter((g): g is { graphIndex: number; path: string; dtype: DecoderDtype } => g.dtype !== undefined);
  const pick = (d: DecoderDtype) => found.find((g) => g.dtype === d);
  if (dtype !== undefined) {
    if (!ORDER.includes(dtype)) throw new TesseraError('invalid-argument', `dtype must be one of ${ORDER.join(', ')}, got ${JSON.stringify(dtype)}`);
    const hit = pick(dtype);
    if (!hit) {
      throw new TesseraError('invalid-argument', `pack ${manifest.name} has no ${dtype} variant; it has ${found.map((g) => `${g.dtype} (${g.path})`).join(', ') || 'none'}`, {
        details: { dtype, available: found.map((g) => g.dtype) },
      });
    }
    return hit;
  }
  for (const d of ORDER) {
    const hit = pick(d);
    if (hit) return hit;
  }
  // A single graph under another name is still worth a try.
  if (manifest.graphs.length === 1) return { dtype: 'fp32', graphIndex: 0, path: (manifest.graphs[0] as { path: string }).path };
  throw new TesseraError('invalid-model', `pack ${manifest.name} has no decoder graph (onnx/model.onnx, model_fp16.onnx, ...): it has ${manifest.graphs.map((g) => g.path).join(', ')}`);
}

/**
 * The manifest cut down to one variant: its graph and external data plus
 * every non-graph file (configs, tokenizer), so loading one variant never
 * downloads the others.
 *
 * @example
 * const slim = manifestForVariant(manifest, chooseVariant(manifest).graphIndex);
 */
export function manifestForVariant(manifest: PackManifest, graphIndex: number): PackManifest {
  const graph = manifest.graphs[graphIndex] as PackManifest['graphs'][number];
  const folder = graph.path.includes('/') ? graph.path.slice(0, graph.path.lastIndexOf('/') + 1) : '';
  const dataPaths = new Set(graph.externalData.flatMap((p) => [p, folder + p]));
  const otherGraphs = new Set(manifest.graphs.filter((_, i) => i !== graphIndex).flatMap((g) => [g.path, ...g.externalData.flatMap((p) => [p, (g.path.includes('/') ? g.path.slice(0, g.path.lastIndexOf('/') + 1) : '') + p])]));
  const files = manifest.files.filter((f) => f.path === graph.path || dataPaths.has(f.path) || !otherGraphs.has(f.path));
  return { ...manifest, graphs: [graph], files, totalBytes: files.reduce((sum, f) => sum + f.size, 0) };
}
