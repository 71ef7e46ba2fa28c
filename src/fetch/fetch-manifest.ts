/**
 * Fetches and validates `manifest.json`, with the same retries as chunk
 * fetches (5xx, 408, 429, network errors; exponential backoff with full
 * jitter, under the caller's AbortSignal), and says which URL the pack's
 * files resolve against.
 *
 * Why the base comes from the response: a Worker's *current* manifest
 * (`/models/<name>/manifest.json`) moves on every publish, while the files
 * live under the immutable revision (`/models/<name>/<rev>/<path>`). The
 * Worker answers the current manifest with `Content-Location` naming the
 * revision's manifest, so files resolve there: no extra round trip (a
 * redirect would cost one per load), the manifest stays content-addressed
 * (a base inside it would change its revision), and a plain static host
 * without the header still resolves files next to the manifest as before. A
 * redirect works too: files resolve against the final `response.url`.
 */
import { TesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import { send, statusError } from './fetch-range.ts';
import { validateManifest } from '../pack/validate-manifest.ts';
import { withRetry, type RetryOptions } from './retry.ts';

export interface FetchManifestOptions {
  fetch?: typeof globalThis.fetch;
  signal?: AbortSignal | undefined;
  /** Default: DEFAULT_RETRY (4 tries), like chunk fetches. */
  retry?: RetryOptions | undefined;
  onRetry?: (err: unknown, attempt: number) => void;
}

/**
 * @example
 * const manifest = await fetchManifest('https://models.example/mlp/manifest.json');
 */
export async function fetchManifest(url: string, options: FetchManifestOptions = {}): Promise<PackManifest> {
  return (await fetchManifestSource(url, options)).manifest;
}

/**
 * The manifest and the URL its files resolve against (the revision's
 * manifest URL when the server names one with `Content-Location`).
 *
 * @example
 * const { manifest, manifestUrl } = await fetchManifestSource(`${worker}/models/ocr/manifest.json`);
 * fileUrl(manifestUrl, 'det.onnx'); // `${worker}/models/ocr/<rev>/det.onnx`
 */
export async function fetchManifestSource(url: string, options: FetchManifestOptions = {}): Promise<{ manifest: PackManifest; manifestUrl: string }> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const ctx = { file: 'manifest.json', signal: options.signal };
  return withRetry(async () => {
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
    return { manifest: validateManifest(json, { source: url }), manifestUrl: filesBaseOf(response, url) };
  }, { retry: options.retry, signal: options.signal, ...(options.onRetry ? { onRetry: options.onRetry } : {}) });
}

/**
 * `Content-Location` resolved against the response's URL when it stays on
 * the same origin (a server may only move its own files), else the URL the
 * manifest came from after redirects.
 */
function filesBaseOf(response: Response, requested: string): string {
  const from = response.url || requested;
  const location = response.headers.get('Content-Location');
  if (!location) return from;
  try {
    const resolved = new URL(location, from);
    return resolved.origin === new URL(from).origin ? resolved.href : from;
  } catch {
    return from;
  }
}
