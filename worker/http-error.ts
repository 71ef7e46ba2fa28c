/**
 * The Worker's one error type: a TesseraError that also knows its HTTP status,
 * turned into `{ "error": { "name", "code", "message", "details"? } }` (the
 * ErrorData shape, so any client rebuilds it with `fromErrorData`) by the
 * app's single onError (worker/app.ts).
 */
import { TesseraError, type ErrorCode } from '../src/errors.ts';

/**
 * @example
 * throw new HttpError(404, 'not-found', `model "${name}" has no published revision`);
 */
export class HttpError extends TesseraError {
  readonly status: number;
  /** Extra response headers (e.g. `Content-Range: bytes *\/size` on a 416). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.status = status;
    this.headers = options.headers ?? {};
  }

  getResponse(): Response {
    return errorResponse(this.status, this.code, this.message, this.details, this.headers);
  }
}

/**
 * Throws the 400 every request parser uses for input the caller must fix.
 *
 * @example
 * if (!Array.isArray(body.inputs)) badRequest('"inputs" must be an array');
 */
export function badRequest(message: string, details?: Record<string, unknown>): never {
  throw new HttpError(400, 'bad-request', message, details ? { details } : {});
}

/**
 * A JSON error response in the shape every Tessera HTTP endpoint uses.
 *
 * @example
 * return errorResponse(401, 'unauthorized', 'a valid admin token is required');
 */
export function errorResponse(
  status: number,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const error: Record<string, unknown> = { name: 'TesseraError', code, message };
  if (Object.keys(details).length > 0) error.details = details;
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
  });
}
