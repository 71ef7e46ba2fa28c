/**
 * What a published model is, read from its manifest alone, so a page, the
 * app and the Worker's catalogue can pick the right surface (raw session,
 * OCR panel, transformers.js pipeline, chat) before a weight byte moves.
 *
 * - `ocr`: a pipeline pack (it holds `tessera.json`, see
 *   src/engine/pipelines/pipeline-config.ts; the only pipeline today is OCR).
 * - `text-generation`: a Hugging Face-style folder with a
 *   `generation_config.json`: the file transformers writes for models that
 *   `generate()` (decoders), and never for encoders.
 * - `hf`: any other Hugging Face-style folder (a transformers.js pipeline).
 * - `onnx`: one ONNX graph, run as a raw session.
 */
import type { PackManifest } from './manifest.ts';

export type ModelKind = 'text-generation' | 'ocr' | 'hf' | 'onnx';

/** Every kind, for validating a kind that came over the wire. */
export const MODEL_KINDS: readonly ModelKind[] = ['text-generation', 'ocr', 'hf', 'onnx'];

/** The pack path of a pipeline declaration (`tessera.json`). */
export const PIPELINE_CONFIG_PATH = 'tessera.json';

/**
 * @example
 * modelKind(await (await fetch(`${host}/models/tiny-llama/manifest.json`)).json()); // 'text-generation'
 */
export function modelKind(manifest: Pick<PackManifest, 'kind' | 'files'>): ModelKind {
  const paths = new Set(manifest.files.map((f) => f.path));
  if (paths.has(PIPELINE_CONFIG_PATH)) return 'ocr';
  switch (manifest.kind) {
    case 'hf':
      return paths.has('generation_config.json') ? 'text-generation' : 'hf';
    case 'onnx':
      return 'onnx';
    default: {
      const unknown: never = manifest.kind;
      return unknown;
    }
  }
}
