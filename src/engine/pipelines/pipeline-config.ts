/**
 * `tessera.json`: the file in a pack that says the pack is a pipeline (several
 * graphs run together) rather than one model, and which file plays which part.
 * It is data in the pack, not code, so a new revision of the OCR models is a
 * new pack, never a new release of Tessera.
 */
import { TesseraError } from '../../errors.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { PIPELINE_CONFIG_PATH } from '../../pack/model-kind.ts';

/** The pack path of the pipeline declaration (defined in the pack layer, where modelKind reads it too). */
export { PIPELINE_CONFIG_PATH };

/** The pipelines Tessera knows how to run. */
export type PipelineKind = 'ocr';

export interface OcrPipelineConfig {
  pipeline: 'ocr';
  /** Pack paths of the three PP-OCR graphs. */
  graphs: { det: string; cls: string; rec: string };
  /** Pack path of the recogniser's dictionary (one character a line). */
  characters: string;
}

export type PipelineConfig = OcrPipelineConfig;

/**
 * Whether a manifest declares a pipeline (holds a `tessera.json`).
 *
 * @example
 * if (isPipelinePack(manifest)) await engine.loadPipeline('ocr', manifest, { baseUrl });
 */
export function isPipelinePack(manifest: PackManifest): boolean {
  return manifest.files.some((f) => f.path === PIPELINE_CONFIG_PATH);
}

/**
 * Reads and checks `tessera.json` against the pack's own file list.
 *
 * @example
 * const config = parsePipelineConfig(files.get('tessera.json')!, manifest); // { pipeline: 'ocr', graphs: {...}, characters }
 */
export function parsePipelineConfig(bytes: Uint8Array, manifest: PackManifest): PipelineConfig {
  const where = `${manifest.name}/${PIPELINE_CONFIG_PATH}`;
  const fail = (message: string): never => {
    throw new TesseraError('invalid-manifest', `${where}: ${message}`, { details: { file: PIPELINE_CONFIG_PATH } });
  };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new TesseraError('invalid-manifest', `${where} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof value !== 'object' || value === null) return fail('must be a JSON object');
  const o = value as Record<string, unknown>;
  const kind = o.pipeline;
  switch (kind) {
    case 'ocr': {
      const graphs = o.graphs as Record<string, unknown> | undefined;
      if (typeof graphs !== 'object' || graphs === null) return fail('"graphs" must be { det, cls, rec } pack paths');
      const graphPaths = new Set(manifest.graphs.map((g) => g.path));
      const files = new Set(manifest.files.map((f) => f.path));
      const graph = (key: 'det' | 'cls' | 'rec'): string => {
        const path = graphs[key];
        if (typeof path !== 'string') return fail(`"graphs.${key}" must be a pack path`);
        if (!graphPaths.has(path)) return fail(`"graphs.${key}" names ${path}, which is not a graph of the pack (it has ${[...graphPaths].join(', ')})`);
        return path;
      };
      const characters = o.characters;
      if (typeof characters !== 'string' || !files.has(characters)) return fail(`"characters" must name a file of the pack, got ${JSON.stringify(characters)}`);
      return { pipeline: 'ocr', graphs: { det: graph('det'), cls: graph('cls'), rec: graph('rec') }, characters };
    }
    default:
      return fail(`unknown "pipeline" ${JSON.stringify(kind)}; this version of Tessera runs "ocr"`);
  }
}
