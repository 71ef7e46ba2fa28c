/**
 * One ranged GET: `Range: bytes=a-b` with `If-Range: "<file sha256>"` (the
 * strong ETag), and a strict reading of the answer:
 *
 * - 206 with the asked `Content-Range` -> the bytes (body length checked);
 * - 200 with the same ETag            -> the server ignores Range: the caller
 *                                        falls back to one full GET per file;
 * - 200/412 with another ETag, or a 206 with another ETag -> `etag-changed`
 *                                        (the file was replaced: reload the manifest);
 * - 404/410 -> `not-found`; 416 -> `range-not-satisfiable`; others -> `http-error`
 *   with the status (5xx, 408, 429 are retried by the caller).
 */
import { TesseraError } from '../errors.ts';
import { readBody, where } from './read-body.ts';
import { abortedError } from './retry.ts';

/** `range-ignored` hands back the 200 response, whose body is the whole file: the caller streams it rather than asking again. */
export type RangeResult = { type: 'partial'; bytes: Uint8Array } | { type: 'range-ignored'; response: Response };

export interface RangeRequest {
  url: string;
  /** Manifest path, for messages. */
  file: string;
  chunk: number;
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive. */
  end: number;
  fileSize: number;
  /** Lower-case hex SHA-256 of the whole file: its strong ETag. */
  sha256: string;
  /**
   * The validator sent as If-Range and checked in answers, where the file's
   * ETag is not its SHA-256 (a Hugging Face repository file: the server's
   * own ETag); `null` when the server gave none (no If-Range, nothing to
   * compare). Default `"<sha256>"`.
   */
  etag?: string | null;
  fetch: typeof globalThis.fetch;
  signal?: AbortSignal | undefined;
  onBytes?: ((n: number) => void) | undefined;
  /** The range's first bytes, already held (a download that broke off): only the rest is asked for. */
  have?: Uint8Array | undefined;
  /** What arrived before the body broke off, `have` included (see readBody). */
  onPartial?: ((received: Uint8Array) => void) | undefined;
}

/**
 * @example
 * const r = await fetchRange({ url, file: 'model.onnx', chunk: 0, start: 0, end: 8 << 20, fileSize, sha256, fetch });
 * if (r.type === 'partial') use(r.bytes);
 */
export async function fetchRange(req: RangeRequest): Promise<RangeResult> {
  const etag = req.etag === undefined ? `"${req.sha256}"` : req.etag;
  // A prefix as long as the range (or longer) is no prefix: ask for all of it.
  const have = req.have && req.have.byteLength < req.end - req.start ? req.have : undefined;
  const from = req.start + (have?.byteLength ?? 0);
  const response = await send(req.fetch, req.url, { Range: `bytes=${from}-${req.end - 1}`, ...(etag === null ? {} : { 'If-Range': etag }) }, req);
  const ctx = { file: req.file, chunk: req.chunk, signal: req.signal, onBytes: req.onBytes, onPartial: req.onPartial };
  const got = response.headers.get('ETag');
  // A null ETag means the header was not exposed to us (CORS): we cannot tell, and chunk hashes still protect us.
  const matches = got === null || etag === null || got.trim() === etag;
  switch (response.status) {
    case 206: {
      if (!matches) throw etagChanged(req, got, response);
      const expected = `bytes ${from}-${req.end - 1}/${req.fileSize}`;
      const contentRange = response.headers.get('Content-Range');
      if (contentRange !== null && contentRange.replace(/\s+/g, ' ').trim() !== expected) {
        await response.body?.cancel().catch(() => {});
        if (contentRange.endsWith(`/${req.fileSize}`) === false) throw etagChanged(req, got, response);
        throw new TesseraError('http-error', `${where(req)}: asked for ${expected}, the server sent ${contentRange}`, {
          details: { file: req.file, chunk: req.chunk, status: 206, url: req.url },
        });
      }
      return { type: 'partial', bytes: await readBody(response, req.end - req.start, ctx, have) };
    }
    case 200:
      if (!matches) {
        await response.body?.cancel().catch(() => {});
        throw etagChanged(req, got, response);
      }
      return { type: 'range-ignored', response };
    case 412:
      await response.body?.cancel().catch(() => {});
      throw etagChanged(req, got, response);
    default:
      await response.body?.cancel().catch(() => {});
      throw statusError(response, req);
  }
}

/** A GET (ranged or not) or HEAD that turns a failed fetch into `network-error` or `aborted`. */
export async function send(
  fetchFn: typeof globalThis.fetch,
  url: string,
  headers: Record<string, string>,
  ctx: { file: string; chunk?: number | undefined; signal?: AbortSignal | undefined },
  method: 'GET' | 'HEAD' = 'GET',
): Promise<Response> {
  try {
    return await fetchFn(url, { method, headers, signal: ctx.signal ?? null });
  } catch (err) {
    if (ctx.signal?.aborted) throw abortedError(ctx.signal);
    throw new TesseraError('network-error', `${where(ctx)}: could not reach ${url} (${(err as Error)?.message ?? err})`, {
      cause: err,
      details: { file: ctx.file, chunk: ctx.chunk, url },
    });
  }
}

/** Maps a status the loader cannot use to its error. */
export function statusError(response: Response, ctx: { file: string; chunk?: number | undefined; url: string }): TesseraError {
  const details = { file: ctx.file, chunk: ctx.chunk, status: response.status, url: ctx.url };
  if (response.status === 404 || response.status === 410) {
    return new TesseraError('not-found', `${where(ctx)}: ${ctx.url} answered ${response.status}; is the pack published at that URL?`, { details });
  }
  if (response.status === 416) {
    return new TesseraError('range-not-satisfiable', `${where(ctx)}: ${ctx.url} is shorter than the manifest says; reload the manifest`, { details });
  }
  return new TesseraError('http-error', `${where(ctx)}: ${ctx.url} answered HTTP ${response.status}`, { details });
}

/** The file behind the URL is not the one the manifest describes (its ETag is another SHA-256). */
export function etagChanged(
  req: { file: string; chunk?: number | undefined; sha256: string; etag?: string | null; url: string },
  got: string | null,
  response: Response,
): TesseraError {
  const expected = req.etag === undefined ? `"${req.sha256}"` : (req.etag ?? 'none');
  return new TesseraError(
    'etag-changed',
    `${req.file} changed on the server while loading (ETag ${got ?? 'unknown'} instead of ${expected}, HTTP ${response.status}): reload the manifest and load again`,
    { details: { file: req.file, chunk: req.chunk, expected, got, status: response.status, url: req.url } },
  );
}

/** Weak validators (`W/"..."`) never match a strong If-Range; compare the strong form only. */
export function sameEtag(got: string, sha256: string): boolean {
  return got.trim() === `"${sha256}"`;
}
