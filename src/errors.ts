/**
 * One error class for all of Tessera. Errors cross worker, tab and network
 * boundaries as plain data ({ name, code, message, details }) and are rebuilt
 * on the other side with {@link fromErrorData}, so `isTesseraError` and
 * `err.code` work wherever the error ends up (type guards match on `name`,
 * not `instanceof`, because `instanceof` fails across realms).
 */

/**
 * Every error code Tessera produces, once: the `ErrorCode` type, the wire
 * parsers and the HTTP status table all derive from this list. Tests assert
 * on these, so they are stable API.
 */
export const ERROR_CODES = [
  // input and usage
  'invalid-argument',
  'invalid-model',
  'invalid-manifest',
  'bad-request',
  'payload-too-large',
  'not-found',
  'unauthorized',
  // network and range loading
  'http-error',
  'range-not-supported',
  'range-not-satisfiable',
  'etag-changed',
  'truncated-body',
  'network-error',
  'integrity-error',
  'aborted',
  'timeout',
  // storage
  'quota-exceeded',
  'cache-error',
  // running
  'device-unavailable',
  'backend-error',
  'session-closed',
  'rate-limited',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * @example
 * const code = isErrorCode(body.code) ? body.code : 'internal';
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODES.has(value);
}

/** The shape an error takes on the wire (postMessage, WebSocket, HTTP JSON body). */
export interface ErrorData {
  name: 'TesseraError';
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

const ERROR_NAME = 'TesseraError';

/**
 * @example
 * throw new TesseraError('integrity-error', 'chunk 3 of model.onnx_data failed its SHA-256 check', {
 *   details: { file: 'model.onnx_data', chunk: 3 },
 * });
 */
export class TesseraError extends Error {
  override readonly name = ERROR_NAME;
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** Plain data for postMessage / JSON. */
  toJSON(): ErrorData {
    const data: ErrorData = { name: ERROR_NAME, code: this.code, message: this.message };
    if (Object.keys(this.details).length > 0) data.details = this.details;
    return data;
  }
}

/**
 * True for a TesseraError from any realm (worker, iframe, rebuilt from JSON).
 *
 * @example
 * if (isTesseraError(err, 'quota-exceeded')) showQuotaDialog(err.details);
 */
export function isTesseraError(value: unknown, code?: ErrorCode): value is TesseraError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { name?: unknown; code?: unknown };
  return v.name === ERROR_NAME && typeof v.code === 'string' && (code === undefined || v.code === code);
}

/**
 * Turns anything thrown into ErrorData, keeping a TesseraError's code.
 *
 * @example
 * port.postMessage({ type: 'error', id, error: toErrorData(err) });
 */
export function toErrorData(error: unknown): ErrorData {
  if (isTesseraError(error)) {
    const data: ErrorData = { name: ERROR_NAME, code: error.code, message: error.message };
    if (error.details && Object.keys(error.details).length > 0) data.details = error.details;
    return data;
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return { name: ERROR_NAME, code: 'aborted', message: error.message || 'The operation was aborted' };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: ERROR_NAME, code: 'internal', message };
}

/**
 * Rebuilds a TesseraError from its wire form. A code this Tessera does not
 * know (a newer peer, a foreign body) is not trusted: the error becomes
 * `internal`, naming the code it came with (kept in `details.code`).
 *
 * @example
 * const err = fromErrorData(message.error); // err.code === 'integrity-error'
 */
export function fromErrorData(data: ErrorData | { name?: unknown; code?: unknown; message?: unknown; details?: unknown }): TesseraError {
  const message = typeof data.message === 'string' ? data.message : 'an error without a message';
  const details = typeof data.details === 'object' && data.details !== null && !Array.isArray(data.details) ? (data.details as Record<string, unknown>) : undefined;
  if (!isErrorCode(data.code)) {
    return new TesseraError('internal', `unknown error code ${JSON.stringify(data.code)}: ${message}`, { details: { ...details, code: data.code } });
  }
  return new TesseraError(data.code, message, details ? { details } : {});
}

/**
 * The HTTP status for each code, in one table: the Worker's onError, the
 * coordinator client and the session client answer with it, so a code means
 * the same status everywhere.
 */
const STATUS_OF: Record<ErrorCode, number> = {
  'invalid-argument': 400,
  'invalid-model': 400,
  'invalid-manifest': 400,
  'bad-request': 400,
  'payload-too-large': 413,
  'not-found': 404,
  unauthorized: 401,
  'http-error': 502,
  'range-not-supported': 416,
  'range-not-satisfiable': 416,
  'etag-changed': 412,
  'truncated-body': 502,
  'network-error': 502,
  'integrity-error': 502,
  aborted: 503,
  timeout: 504,
  'quota-exceeded': 507,
  'cache-error': 500,
  'device-unavailable': 503,
  'backend-error': 500,
  'session-closed': 503,
  'rate-limited': 429,
  unavailable: 503,
  internal: 500,
};

/**
 * Codes that keep their status when a session reports them through the
 * coordinator: they describe the request (the caller's to fix) or the pool's
 * state. Any other code from a session is the session failing: 502.
 */
const PASSED_THROUGH: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'invalid-argument',
  'bad-request',
  'payload-too-large',
  'rate-limited',
  'unavailable',
  'aborted',
  'session-closed',
  'timeout',
  'backend-error',
]);

/**
 * @example
 * statusOf('not-found');                // 404
 * statusOf('integrity-error', 'session'); // 502: a session behind the coordinator failed
 */
export function statusOf(code: ErrorCode, from: 'here' | 'session' = 'here'): number {
  if (from === 'session' && !PASSED_THROUGH.has(code)) return 502;
  return STATUS_OF[code] ?? 500;
}

/**
 * Rebuilds the TesseraError an HTTP error response carries
 * (`{ "error": { "name", "code", "message", "details"? } }`), adding the
 * status and what was asked to its message and details; a body that is not
 * one becomes `http-error`.
 *
 * @example
 * if (!response.ok) throw await fromErrorResponse(response, '/admin/blobs/missing');
 */
export async function fromErrorResponse(response: Response, what: string): Promise<TesseraError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { name?: unknown; code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (typeof error !== 'object' || error === null || typeof error.message !== 'string') {
    return new TesseraError('http-error', `HTTP ${response.status} from ${what}: ${text.slice(0, 200)}`, { details: { status: response.status } });
  }
  const rebuilt = fromErrorData(error);
  return new TesseraError(rebuilt.code, `${rebuilt.message} (HTTP ${response.status} from ${what})`, { details: { status: response.status, ...rebuilt.details } });
}

/** Throws `aborted` when the signal has fired; call at await points. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new TesseraError('aborted', 'The operation was aborted', { cause: signal.reason });
  }
}
