/**
 * Field readers for the wire-message parsers (coordinator-messages.ts,
 * standby-messages.ts): each checks one field of a decoded JSON object and
 * throws `bad-request` naming the message and the field, so every parser
 * builds a fresh, typed object instead of casting.
 */
import { TesseraError, isErrorCode, type ErrorData } from '../errors.ts';

export type Obj = Record<string, unknown>;

/** @example if (x < 0) bad('"join" message: "x" must be >= 0'); */
export function bad(message: string): never {
  throw new TesseraError('bad-request', message);
}

/** @example const o = obj(JSON.parse(text), 'session message'); */
export function obj(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${where} must be an object`);
  return v as Obj;
}

/** @example const raw = field(o, 'chunk', where); // throws when the key is absent */
export function field(o: Obj, key: string, where: string): unknown {
  if (!(key in o)) bad(`${where}: missing field "${key}"`);
  return o[key];
}

/** @example const model = str(o, 'model', where); // a non-empty string */
export function str(o: Obj, key: string, where: string): string {
  const v = field(o, key, where);
  if (typeof v !== 'string' || v.length === 0) bad(`${where}: "${key}" must be a non-empty string`);
  return v;
}

/** @example const maxBatch = posInt(o, 'maxBatch', where); // a safe integer >= 1 */
export function posInt(o: Obj, key: string, where: string): number {
  const v = field(o, key, where);
  if (!Number.isSafeInteger(v) || (v as number) < 1) bad(`${where}: "${key}" must be a positive integer`);
  return v as number;
}

/** @example const leaseMs = posNum(o, 'leaseMs', where); // a finite number > 0 */
export function posNum(o: Obj, key: string, where: string): number {
  const v = field(o, key, where);
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${where}: "${key}" must be a positive number`);
  return v;
}

/**
 * The `error` field of an error message. An unknown code from a newer peer is
 * kept as 'internal' rather than trusted.
 *
 * @example const error = errorData(o, where); // { name: 'TesseraError', code, message, details? }
 */
export function errorData(o: Obj, where: string, noMessage = 'an error without a message'): ErrorData {
  const e = obj(field(o, 'error', where), `${where}: "error"`);
  const message = typeof e.message === 'string' ? e.message : noMessage;
  const data: ErrorData = { name: 'TesseraError', code: isErrorCode(e.code) ? e.code : 'internal', message };
  if (typeof e.details === 'object' && e.details !== null && !Array.isArray(e.details)) data.details = e.details as Obj;
  return data;
}
