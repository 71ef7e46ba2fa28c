/**
 * Picks a pack's graph and its external data out of the loaded files, in the
 * form ONNX Runtime wants: external data keyed by the `location` written in
 * the graph, which is relative to the graph's own folder. External data
 * passes through as the loader gave it (bytes, or Blobs on the streamed
 * path); the graph must be bytes, which the loader always gives for graphs.
 */
import type { ExternalDataFile } from '../backend/ort.ts';
import { TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';

/**
 * @example
 * const { graph, externalData } = graphFiles(manifest, files);
 * // graph: bytes of onnx/model.onnx; externalData: [{ path: 'model.onnx.data', data }]
 */
export function graphFiles(
  manifest: PackManifest,
  files: ReadonlyMap<string, Uint8Array | Blob>,
  graphIndex = 0,
): { graph: Uint8Array; externalData: ExternalDataFile[] } {
  const entry = manifest.graphs[graphIndex];
  if (!entry) {
    throw new TesseraError('invalid-manifest', `pack ${manifest.name} has no graph #${graphIndex} (it lists ${manifest.graphs.length})`);
  }
  const graph = files.get(entry.path);
  if (!graph) throw missing(manifest, entry.path);
  if (!(graph instanceof Uint8Array)) {
    throw new TesseraError('internal', `pack ${manifest.name}: the loader returned ${entry.path} as a Blob; graphs are parsed from bytes`, { details: { file: entry.path } });
  }
  const folder = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/') + 1) : '';
  const externalData = entry.externalData.map((location) => {
    // Locations are relative to the graph's folder; accept a pack-root path too.
    const data = files.get(folder + location) ?? files.get(location);
    if (!data) throw missing(manifest, folder + location);
    // ORT looks data up by the graph's own `location` (relative to the graph's
    // folder), while the manifest lists pack paths (onnx/model.onnx.data).
    return { path: folder && location.startsWith(folder) ? location.slice(folder.length) : location, data };
  });
  return { graph, externalData };
}

function missing(manifest: PackManifest, path: string): TesseraError {
  return new TesseraError('invalid-manifest', `pack ${manifest.name}: the loader returned no bytes for ${path}`, {
    details: { file: path },
  });
}
