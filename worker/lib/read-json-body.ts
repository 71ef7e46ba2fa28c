/**
 * Reads a JSON request body with a hard size cap. Content-Length is checked
 * first (a 413 before a byte is read), then the stream is counted, because a
 * chunked body has no Content-Length and a client can lie about it. A body
 * that declares another media type is a 415 before anything is read; one that
 * declares none is read as JSON (a bare `fetch` or a hand-written client).
 */
import { HttpError } from '../http-error.ts';

/** The documented largest inference request body: 8 MiB. */
export const MAX_INFERENCE_BODY_BYTES = 8 * 1024 * 1024;

/**
 * @example
 * const body = await readJsonBody(c.req.raw); // 400 on bad JSON, 413 over the limit
 */
export async function readJsonBody(request: Request, limit = MAX_INFERENCE_BODY_BYTES): Promise<unknown> {
  const tooLarge = (): never => {
    throw new HttpError(413, 'payload-too-large', `request body is larger than ${limit} bytes; send fewer instances per request`, { details: { limitBytes: limit } });
  };
  checkJsonContentType(request.headers.get('Content-Type'));
  const declared = Number(request.headers.get('Content-Length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) tooLarge();
  if (!request.body) throw new HttpError(400, 'bad-request', 'request body is empty; send a JSON object');
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (cause) {
    throw new HttpError(400, 'bad-request', `request body is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/**
 * 415 unless `contentType` is absent or a JSON type (`application/json`,
 * `application/<x>+json`, any parameters).
 *
 * @example
 * checkJsonContentType('application/json; charset=utf-8'); // ok
 * checkJsonContentType('text/plain');                      // throws 415
 */
export function checkJsonContentType(contentType: string | null | undefined): void {
  if (contentType === null || contentType === undefined || contentType.trim() === '') return;
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (essence === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(essence)) return;
  throw new HttpError(415, 'bad-request', `request body is declared as "${essence}"; send JSON with Content-Type: application/json`, {
    details: { contentType: essence },
  });
}
