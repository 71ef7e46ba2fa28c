/** Where a pack lives: the manifest URL, and each file's URL relative to it. */
import { TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';

/**
 * @example
 * resolveSource('mlp/manifest.json', 'https://models.example/') // { manifestUrl: 'https://models.example/mlp/manifest.json' }
 * resolveSource(manifest, 'https://models.example/mlp/')        // files resolve under .../mlp/
 */
export function resolveSource(
  source: string | URL | PackManifest,
  baseUrl: string | URL | undefined,
): { manifestUrl: string; manifest?: PackManifest } {
  const pageBase = (globalThis as { location?: { href?: string } }).location?.href;
  if (typeof source === 'string' || source instanceof URL) {
    try {
      return { manifestUrl: new URL(source, baseUrl ?? pageBase).href };
    } catch (err) {
      throw new TesseraError('invalid-argument', `"${String(source)}" is not a URL; pass an absolute URL or a baseUrl`, { cause: err });
    }
  }
  if (baseUrl === undefined && pageBase === undefined) {
    throw new TesseraError('invalid-argument', 'loading from a manifest object needs baseUrl: the URL of the pack (or of its manifest.json)');
  }
  // A base that is a directory without its trailing slash would drop its last segment when resolving.
  let base = new URL(baseUrl ?? (pageBase as string)).href;
  if (!base.endsWith('/') && !base.endsWith('.json')) base += '/';
  return { manifestUrl: new URL('manifest.json', base).href, manifest: source };
}

/** A file's URL: its manifest path, segment by segment escaped, relative to the manifest. */
export function fileUrl(manifestUrl: string, path: string): string {
  return new URL(path.split('/').map(encodeURIComponent).join('/'), manifestUrl).href;
}
