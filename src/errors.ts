/**
 * One error class for all of Tessera. Errors cross worker, tab and network
 * boundaries as plain data ({ name, code, message, details }) and are rebuilt
 * on the other side with {@link fromErrorData}, so `isTesseraError` and
 * `err.code` work wherever the error ends up (type guards match on `name`,
 * not `instanceof`, because `instanceof` fails across realms).
 */

/** Every error code Tessera produces. Tests assert on these, so they are stable API. */
export type ErrorCode =
  // input and usage
  | 'invalid-argument'
  | 'invalid-model'
  | 'invalid-manifest'
  | 'bad-request'
  | 'payload-too-large'
  | 'not-found'
  | 'unauthorized'
  // network and range loading
  | 'http-error'
  | 'range-not-supported'
  | 'range-not-satisfiable'
  | 'etag-changed'
  | 'truncated-body'
  | 'network-error'
  | 'integrity-error'
  | 'aborted'
  | 'timeout'
  // storage
  | 'quota-exceeded'
  | 'cache-error'
  // running
  | 'device-unavailable'
  | 'backend-error'
  | 'session-closed'
  | 'rate-limited'
  | 'unavailable'
  | 'internal';

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
 * Rebuilds a TesseraError from its wire form.
 *
 * @example
 * const err = fromErrorData(message.error); // err.code === 'integrity-error'
 */
export function fromErrorData(data: ErrorData): TesseraError {
  return new TesseraError(data.code, data.message, data.details ? { details: data.details } : {});
}

/** Throws `aborted` when the signal has fired; call at await points. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new TesseraError('aborted', 'The operation was aborted', { cause: signal.reason });
  }
}
