/** Fetches and validates `manifest.json`. */
import { TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import { send, statusError } from './fetch-range.ts';
import { validateManifest } from './validate-manifest.ts';

/**
 * @example
 * const manifest = await fetchManifest('https://models.example/mlp/manifest.json');
 */
export async function fetchManifest(
  url: string,
  options: { fetch?: typeof globalThis.fetch; signal?: AbortSignal | undefined } = {},
): Promise<PackManifest> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const ctx = { file: 'manifest.json', signal: options.signal };
  const response = await send(fetchFn, url, { Accept: 'application/json' }, ctx);
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw statusError(response, { file: 'manifest.json', url });
  }
  let json: unknown;
  try {
    json = await response.json();
  } catch (err) {
    throw new TesseraError('invalid-manifest', `${url} is not valid JSON (${(err as Error)?.message ?? err})`, { cause: err, details: { source: url } });
  }
  return validateManifest(json, url);
}
