/**
 * Messages on a session's *standby* socket (`GET /v1/sessions/standby`): the
 * one WebSocket a session holds to the directory object when it offers to
 * load models on request (demand-driven prewarming). It is a separate socket
 * from the pool sockets (coordinator-messages.ts) because it talks to a
 * different object: the directory sees every pool's pressure, a pool sees
 * only its own, so only the directory can pick which model an offering
 * session should load. The pool sockets stay exactly as they are; a
 * prewarmed model joins its pool like any other session (with
 * `prewarmed: true` in its join).
 *
 * Kept out of coordinator-messages.ts (which is past the ~400 lines STYLE.md
 * splits at) but built the same way: plain JSON text frames (control
 * messages only, no tensors), one parser per direction, `bad-request`
 * naming the message and field that is wrong. The join token and close codes
 * are the pool sockets' (CLOSE_UNAUTHORIZED, CLOSE_JOIN_TIMEOUT, ...).
 *
 * Session -> directory: standby, heartbeat, progress, ready, failed,
 * declined, unloaded, leave.
 * Directory -> session: standing-by, prewarm, unload, error.
 */
import { TesseraError, type ErrorData } from '../errors.ts';
import { bad, errorData, field, obj, posNum, str, type Obj } from './read-fields.ts';

/** What an offering session is willing to load: every model, or the named ones. */
export type StandbyModels = 'all' | string[];

/** A model the session loaded on the directory's request and still holds. */
export interface PrewarmedLoad {
  model: string;
  revision: string;
  /** The pack's total bytes: what the load costs the session's budget. */
  bytes: number;
}

/** The first message on a standby socket: the session's offer. */
export interface StandbyMessage {
  type: 'standby';
  token: string;
  /** Sent when reconnecting, so the directory keeps the identity and what it asked for. */
  sessionId?: string;
  device: string;
  /** The most bytes of model packs the directory may have this session load. */
  budgetBytes: number;
  models: StandbyModels;
  /** Models the session serves on its own (not prewarmed, not charged to the budget): never asked for again. */
  serving: string[];
  /** Prewarmed models it still holds (after a reconnect): charged to the budget. */
  loaded: PrewarmedLoad[];
}
export interface StandbyHeartbeatMessage { type: 'heartbeat' }
/** Loading progress of an asked model (throttled by the session). */
export interface PrewarmProgressMessage { type: 'progress'; model: string; loadedBytes: number; totalBytes: number }
/** The model is loaded and its session joined the model's pool. */
export interface PrewarmReadyMessage { type: 'ready'; model: string; revision: string }
/** Loading (or joining) failed; the budget it held is free again. */
export interface PrewarmFailedMessage { type: 'failed'; model: string; error: ErrorData }
/** The session will not load the model (over budget by its own count, not offered, already held). */
export interface PrewarmDeclinedMessage { type: 'declined'; model: string; reason: string }
/** The session left the model's pool and disposed of the model. */
export interface PrewarmUnloadedMessage { type: 'unloaded'; model: string }
export interface StandbyLeaveMessage { type: 'leave' }

export type StandbySessionMessage =
  | StandbyMessage
  | StandbyHeartbeatMessage
  | PrewarmProgressMessage
  | PrewarmReadyMessage
  | PrewarmFailedMessage
  | PrewarmDeclinedMessage
  | PrewarmUnloadedMessage
  | StandbyLeaveMessage;

/** The directory accepted the offer. */
export interface StandingByMessage { type: 'standing-by'; sessionId: string; leaseMs: number; heartbeatMs: number }
/** Load `model` at `revision` (its pack is `bytes` long) and join its pool. */
export interface PrewarmMessage { type: 'prewarm'; model: string; revision: string; bytes: number }
/** Leave `model`'s pool and dispose of it (idle, or a load that took too long). */
export interface UnloadMessage { type: 'unload'; model: string; reason: string }
export interface StandbyErrorMessage { type: 'error'; error: ErrorData }

export type DirectoryStandbyMessage = StandingByMessage | PrewarmMessage | UnloadMessage | StandbyErrorMessage;

// ---------------------------------------------------------------- validation

/** A byte count: a safe integer >= `min`. */
function bytes(o: Obj, key: string, where: string, min: number): number {
  const v = field(o, key, where);
  if (!Number.isSafeInteger(v) || (v as number) < min) bad(`${where}: "${key}" must be an integer >= ${min} (bytes)`);
  return v as number;
}

function names(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) bad(`${where} must be an array of model names`);
  return [...new Set(v as string[])];
}

function standbyModels(o: Obj, where: string): StandbyModels {
  const v = field(o, 'models', where);
  if (v === 'all') return 'all';
  const list = names(v, `${where}: "models" ("all" or a list)`);
  if (list.length === 0) bad(`${where}: "models" must be "all" or a non-empty list of model names`);
  return list;
}

function loads(v: unknown, where: string): PrewarmedLoad[] {
  if (!Array.isArray(v)) bad(`${where} must be an array of { model, revision, bytes }`);
  return (v as unknown[]).map((x, i) => {
    const at = `${where}[${i}]`;
    const l = obj(x, at);
    return { model: str(l, 'model', at), revision: str(l, 'revision', at), bytes: bytes(l, 'bytes', at, 1) };
  });
}

/**
 * Checks a decoded value is a well-formed message from a standby session.
 * Throws `bad-request` naming the message type and the wrong field.
 *
 * @example
 * const msg = parseStandbySessionMessage(JSON.parse(text)); // msg.type === 'standby'
 */
export function parseStandbySessionMessage(value: unknown): StandbySessionMessage {
  const o = obj(value, 'standby message');
  const type = o.type;
  const where = `"${String(type)}" message`;
  switch (type) {
    case 'standby': {
      const msg: StandbyMessage = {
        type,
        token: str(o, 'token', where),
        device: str(o, 'device', where),
        budgetBytes: bytes(o, 'budgetBytes', where, 1),
        models: standbyModels(o, where),
        serving: o.serving === undefined ? [] : names(o.serving, `${where}: "serving"`),
        loaded: o.loaded === undefined ? [] : loads(o.loaded, `${where}: "loaded"`),
      };
      if (o.sessionId !== undefined) msg.sessionId = str(o, 'sessionId', where);
      return msg;
    }
    case 'heartbeat':
    case 'leave':
      return { type };
    case 'progress': {
      const totalBytes = bytes(o, 'totalBytes', where, 0);
      const loadedBytes = bytes(o, 'loadedBytes', where, 0);
      if (loadedBytes > totalBytes) bad(`${where}: "loadedBytes" (${loadedBytes}) exceeds "totalBytes" (${totalBytes})`);
      return { type, model: str(o, 'model', where), loadedBytes, totalBytes };
    }
    case 'ready':
      return { type, model: str(o, 'model', where), revision: str(o, 'revision', where) };
    case 'failed':
      return { type, model: str(o, 'model', where), error: errorData(o, where) };
    case 'declined':
      return { type, model: str(o, 'model', where), reason: str(o, 'reason', where) };
    case 'unloaded':
      return { type, model: str(o, 'model', where) };
    default:
      return bad(`standby message: unknown type ${JSON.stringify(type)}; expected standby, heartbeat, progress, ready, failed, declined, unloaded or leave`);
  }
}

/**
 * Checks a decoded value is a well-formed message from the directory (the
 * session side's parser).
 *
 * @example
 * const msg = parseDirectoryStandbyMessage(JSON.parse(event.data)); // msg.type === 'prewarm'
 */
export function parseDirectoryStandbyMessage(value: unknown): DirectoryStandbyMessage {
  const o = obj(value, 'directory message');
  const type = o.type;
  const where = `"${String(type)}" message`;
  switch (type) {
    case 'standing-by':
      return { type, sessionId: str(o, 'sessionId', where), leaseMs: posNum(o, 'leaseMs', where), heartbeatMs: posNum(o, 'heartbeatMs', where) };
    case 'prewarm':
      return { type, model: str(o, 'model', where), revision: str(o, 'revision', where), bytes: bytes(o, 'bytes', where, 1) };
    case 'unload':
      return { type, model: str(o, 'model', where), reason: str(o, 'reason', where) };
    case 'error':
      return { type, error: errorData(o, where) };
    default:
      return bad(`directory message: unknown type ${JSON.stringify(type)}; expected standing-by, prewarm, unload or error`);
  }
}

/**
 * Reads one standby frame (JSON text; a binary frame holding UTF-8 JSON is
 * accepted too) into a plain object for the parsers above.
 *
 * @example
 * const msg = parseStandbySessionMessage(decodeStandbyFrame(data));
 */
export function decodeStandbyFrame(data: string | ArrayBuffer | Uint8Array): unknown {
  const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new TesseraError('bad-request', 'standby frame is not valid JSON', { cause });
  }
}

/**
 * Whether a model is one the session offered to load.
 *
 * @example
 * offersModel('all', 'mlp'); // true
 */
export function offersModel(models: StandbyModels, model: string): boolean {
  return models === 'all' || models.includes(model);
}
