/**
 * Messages between a client session and the coordinator, over one WebSocket.
 * Every message is one binary frame (see tensor-frame.ts): the message minus
 * its tensors is the frame's JSON header, the tensors ride as raw bytes. Text
 * frames holding plain JSON are accepted too for control messages (join,
 * heartbeat, leave), which is what a debugging client most likely sends.
 *
 * Session -> coordinator: join, heartbeat, models, result, error, leave,
 * and for text generation chunk (one streamed delta) and done (the result).
 * Coordinator -> session: joined, infer, generate, cancel, error.
 */
import { TesseraError, type ErrorData } from '../errors.ts';
import { bad, errorData, field, obj, posInt, posNum, str, type Obj } from './read-fields.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult } from './generation.ts';
import { parseGenerateChunk, parseGenerateRequest, parseGenerateResult } from './parse-generation.ts';
import { decodeFrame, encodeFrame } from './tensor-frame.ts';
import { isTensorType, validateTensorData, type TensorData, type TensorMap, type TensorType } from './tensor.ts';

/** WebSocket close codes the coordinator sends (4000-4999 are the application's). */
export const CLOSE_LEASE_EXPIRED = 4001;
export const CLOSE_REPLACED = 4002;
/** A join without a valid token: the client stops reconnecting. */
export const CLOSE_UNAUTHORIZED = 4401;
/** No `join` arrived within JOIN_TIMEOUT_MS of the upgrade: the client may reconnect and join promptly. */
export const CLOSE_JOIN_TIMEOUT = 4408;
/** How long a new socket may stay silent before it must have sent `join`. */
export const JOIN_TIMEOUT_MS = 5_000;

/** A model a session has warm and can run right now. */
export interface ModelOffer {
  name: string;
  revision: string;
  /** Largest batch (dim 0) the session accepts for this model; 1 = no batching. */
  maxBatch: number;
  /** The model's inputs, so the API can validate requests before any session sees them. */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
  /**
   * Set when the model is a pipeline with its own request format (see
   * ocr-tensors.ts): the APIs take `{ image }` instances instead of tensors.
   */
  pipeline?: 'ocr';
  /**
   * `text-generation`: a decoder served through `generate` messages (the
   * OpenAI chat/completions routes), not `infer` batches.
   */
  task?: 'text-generation';
  /** Generation models: prompt plus new tokens the model can attend to. */
  contextLength?: number;
  /** Generation models: the most new tokens one request may ask for. */
  maxNewTokens?: number;
  /**
   * Generation models: UTF-8 bytes of the longest token in the vocabulary, so
   * the Worker can tell, without a tokenizer, that a prompt cannot fit:
   * tokens >= bytes / maxTokenBytes.
   */
  maxTokenBytes?: number;
}

/** A model input or output as the inference APIs describe it: -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  type: TensorType;
  shape: number[];
}

/** What a session says it can take. */
export interface SessionCapacity {
  /** Batches (infer messages) it runs at once; more are not sent to it. */
  maxInFlight: number;
  /** Its own estimate of requests per second, the prior for the measured rate. */
  requestsPerSecond: number;
}

export interface JoinMessage {
  type: 'join';
  token: string;
  /** Sent when reconnecting, so backoff and identity carry over. */
  sessionId?: string;
  models: ModelOffer[];
  device: string;
  capacity: SessionCapacity;
  /** True when the session loaded its models because the directory asked it to (prewarming, standby-messages.ts). */
  prewarmed?: boolean;
}
export interface HeartbeatMessage { type: 'heartbeat' }
/** Replaces the session's warm model list (a model finished loading or was dropped). */
export interface ModelsMessage { type: 'models'; models: ModelOffer[] }
export interface ResultMessage {
  type: 'result';
  requestIds: string[];
  outputs: TensorMap;
  /** How long the session spent running the batch (ms): lets the coordinator tell its own overhead from compute. */
  computeMs?: number;
}
export interface SessionErrorMessage { type: 'error'; requestIds: string[]; error: ErrorData }
export interface LeaveMessage { type: 'leave' }
/** One streamed piece of a generation, sent as soon as the session has it. */
export interface ChunkMessage {
  type: 'chunk';
  requestId: string;
  chunk: GenerateChunk;
  /** On the first chunk: ms from the session receiving `generate` to this chunk (its own time to first token). */
  sessionMs?: number;
}
/** A generation ended (the last `chunk` came before it). Errors travel as `error` with `requestIds: [requestId]`. */
export interface DoneMessage { type: 'done'; requestId: string; result: GenerateResult }

export type SessionMessage =
  | JoinMessage
  | HeartbeatMessage
  | ModelsMessage
  | ResultMessage
  | SessionErrorMessage
  | LeaveMessage
  | ChunkMessage
  | DoneMessage;

export interface JoinedMessage { type: 'joined'; sessionId: string; leaseMs: number; heartbeatMs: number }
/**
 * A batch to run. `inputs` are the requests' inputs concatenated along dim 0;
 * `batchSizes[i]` rows belong to `requestIds[i]`, and the outputs must keep
 * that row order so the coordinator can split them back.
 */
export interface InferMessage {
  type: 'infer';
  requestIds: string[];
  model: string;
  inputs: TensorMap;
  batchSizes: number[];
  /**
   * Optional: milliseconds left before the batch's earliest deadline when it
   * was sent. A session may bound its compute by it (stop and answer
   * `timeout`); the coordinator answers `timeout` itself when it passes, and
   * never re-dispatches a batch a session timed out on. Absent from older
   * coordinators.
   */
  deadlineMs?: number;
}
/** Generate text for one request, streaming `chunk`s back, then `done` (or `error`). Never batched. */
export interface GenerateMessage { type: 'generate'; requestId: string; model: string; request: GenerateRequest }
/**
 * These requests were answered elsewhere (timeout) or their client left; the
 * session may skip them, and stops a running generation within one step.
 */
export interface CancelMessage { type: 'cancel'; requestIds: string[] }
/** A protocol problem with what the session sent (bad join, malformed message). */
export interface CoordinatorErrorMessage { type: 'error'; error: ErrorData }

export type CoordinatorMessage = JoinedMessage | InferMessage | GenerateMessage | CancelMessage | CoordinatorErrorMessage;

// ---------------------------------------------------------------- validation

function ids(o: Obj, where: string): string[] {
  const v = field(o, 'requestIds', where);
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x.length > 0)) {
    bad(`${where}: "requestIds" must be a non-empty array of strings`);
  }
  return [...(v as string[])];
}

function models(o: Obj, where: string): ModelOffer[] {
  const v = field(o, 'models', where);
  if (!Array.isArray(v)) bad(`${where}: "models" must be an array of { name, revision, maxBatch }`);
  return (v as unknown[]).map((m, i) => {
    const at = `${where}: models[${i}]`;
    const mo = obj(m, at);
    const offer: ModelOffer = { name: str(mo, 'name', at), revision: str(mo, 'revision', at), maxBatch: posInt(mo, 'maxBatch', at) };
    if (mo.inputs !== undefined) offer.inputs = specs(mo.inputs, `${at}.inputs`);
    if (mo.outputs !== undefined) offer.outputs = specs(mo.outputs, `${at}.outputs`);
    if (mo.pipeline !== undefined) {
      if (mo.pipeline !== 'ocr') bad(`${at}: unknown "pipeline" ${JSON.stringify(mo.pipeline)}; expected "ocr"`);
      offer.pipeline = 'ocr';
    }
    generationOffer(mo, offer, at);
    return offer;
  });
}

/** The text-generation fields of an offer: a generation model must say how long its context is. */
function generationOffer(mo: Obj, offer: ModelOffer, at: string): void {
  if (mo.task === undefined) return;
  if (mo.task !== 'text-generation') bad(`${at}: unknown "task" ${JSON.stringify(mo.task)}; expected "text-generation"`);
  offer.task = 'text-generation';
  offer.contextLength = posInt(mo, 'contextLength', at);
  if (mo.maxNewTokens !== undefined) offer.maxNewTokens = posInt(mo, 'maxNewTokens', at);
  if (mo.maxTokenBytes !== undefined) offer.maxTokenBytes = posInt(mo, 'maxTokenBytes', at);
}

function specs(v: unknown, where: string): TensorSpec[] {
  if (!Array.isArray(v)) bad(`${where} must be an array of { name, type, shape }`);
  return (v as unknown[]).map((x, i) => {
    const at = `${where}[${i}]`;
    const o = obj(x, at);
    const type = str(o, 'type', at);
    if (!isTensorType(type)) bad(`${at}: unknown tensor type ${JSON.stringify(type)}`);
    const shape = field(o, 'shape', at);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= -1)) bad(`${at}: "shape" must be integers >= -1 (-1: dynamic)`);
    return { name: str(o, 'name', at), type, shape: [...(shape as number[])] };
  });
}

function tensors(o: Obj, key: string, where: string): TensorMap {
  const map = obj(field(o, key, where), `${where}: "${key}"`);
  for (const [name, t] of Object.entries(map)) {
    try {
      validateTensorData(t, name);
    } catch (cause) {
      throw new TesseraError('bad-request', `${where}: ${key}.${name}: ${(cause as Error).message}`, { cause });
    }
  }
  return map as TensorMap;
}

/**
 * Checks a decoded value is a well-formed SessionMessage. Throws `bad-request`
 * naming the message type and the field that is wrong.
 *
 * @example
 * const msg = parseSessionMessage(JSON.parse(text)); // msg.type === 'join'
 */
export function parseSessionMessage(value: unknown): SessionMessage {
  const o = obj(value, 'session message');
  const type = o.type;
  const where = `"${String(type)}" message`;
  switch (type) {
    case 'join': {
      const cap = obj(field(o, 'capacity', where), `${where}: "capacity"`);
      const msg: JoinMessage = {
        type,
        token: str(o, 'token', where),
        models: models(o, where),
        device: str(o, 'device', where),
        capacity: {
          maxInFlight: posInt(cap, 'maxInFlight', `${where}: capacity`),
          requestsPerSecond: posNum(cap, 'requestsPerSecond', `${where}: capacity`),
        },
      };
      if (o.sessionId !== undefined) msg.sessionId = str(o, 'sessionId', where);
      if (o.prewarmed !== undefined) {
        if (typeof o.prewarmed !== 'boolean') bad(`${where}: "prewarmed" must be true or false`);
        msg.prewarmed = o.prewarmed;
      }
      return msg;
    }
    case 'heartbeat':
    case 'leave':
      return { type };
    case 'models':
      return { type, models: models(o, where) };
    case 'result': {
      const msg: ResultMessage = { type, requestIds: ids(o, where), outputs: tensors(o, 'outputs', where) };
      if (o.computeMs !== undefined) {
        if (typeof o.computeMs !== 'number' || !Number.isFinite(o.computeMs) || o.computeMs < 0) bad(`${where}: "computeMs" must be a number >= 0`);
        msg.computeMs = o.computeMs;
      }
      return msg;
    }
    case 'error':
      return { type, requestIds: ids(o, where), error: errorData(o, where, 'session reported an error without a message') };
    case 'chunk': {
      const msg: ChunkMessage = { type, requestId: str(o, 'requestId', where), chunk: parseGenerateChunk(field(o, 'chunk', where), `${where}: chunk`) };
      if (o.sessionMs !== undefined) {
        if (typeof o.sessionMs !== 'number' || !Number.isFinite(o.sessionMs) || o.sessionMs < 0) bad(`${where}: "sessionMs" must be a number >= 0`);
        msg.sessionMs = o.sessionMs;
      }
      return msg;
    }
    case 'done':
      return { type, requestId: str(o, 'requestId', where), result: parseGenerateResult(field(o, 'result', where), `${where}: result`) };
    default:
      return bad(`session message: unknown type ${JSON.stringify(type)}; expected join, heartbeat, models, result, error, leave, chunk or done`);
  }
}

/**
 * Checks a decoded value is a well-formed CoordinatorMessage (the session side's parser).
 *
 * @example
 * const msg = parseCoordinatorMessage(decodeMessage(bytes)); // msg.type === 'infer'
 */
export function parseCoordinatorMessage(value: unknown): CoordinatorMessage {
  const o = obj(value, 'coordinator message');
  const type = o.type;
  const where = `"${String(type)}" message`;
  switch (type) {
    case 'joined':
      return { type, sessionId: str(o, 'sessionId', where), leaseMs: posNum(o, 'leaseMs', where), heartbeatMs: posNum(o, 'heartbeatMs', where) };
    case 'infer': {
      const requestIds = ids(o, where);
      const sizes = field(o, 'batchSizes', where);
      if (!Array.isArray(sizes) || sizes.length !== requestIds.length || !sizes.every((s) => Number.isSafeInteger(s) && s >= 0)) {
        bad(`${where}: "batchSizes" must hold one non-negative integer per request id`);
      }
      const deadlineMs = o.deadlineMs;
      if (deadlineMs !== undefined && (typeof deadlineMs !== 'number' || !Number.isFinite(deadlineMs) || deadlineMs <= 0)) bad(`${where}: "deadlineMs" must be a positive number when present`);
      return {
        type, requestIds, model: str(o, 'model', where), inputs: tensors(o, 'inputs', where), batchSizes: [...(sizes as number[])],
        ...(deadlineMs !== undefined ? { deadlineMs: deadlineMs as number } : {}),
      };
    }
    case 'generate':
      return { type, requestId: str(o, 'requestId', where), model: str(o, 'model', where), request: parseGenerateRequest(field(o, 'request', where), `${where}: request`) };
    case 'cancel':
      return { type, requestIds: ids(o, where) };
    case 'error':
      return { type, error: errorData(o, where, 'session reported an error without a message') };
    default:
      return bad(`coordinator message: unknown type ${JSON.stringify(type)}`);
  }
}

// ---------------------------------------------------------------- wire codec

/** Which field of a message holds tensors, if any. */
function tensorField(msg: SessionMessage | CoordinatorMessage): 'inputs' | 'outputs' | undefined {
  if (msg.type === 'infer') return 'inputs';
  if (msg.type === 'result') return 'outputs';
  return undefined;
}

/**
 * One binary frame for a message; tensors become raw payloads and the header
 * names them (`tensorNames`) in payload order.
 *
 * @example
 * ws.send(encodeMessage({ type: 'result', requestIds: ['r1'], outputs: { y } }));
 */
export function encodeMessage(msg: SessionMessage | CoordinatorMessage): Uint8Array {
  const key = tensorField(msg);
  if (key === undefined) return encodeFrame(msg, []);
  const map = (msg as unknown as Record<string, TensorMap>)[key] as TensorMap;
  const names = Object.keys(map);
  const header = { ...msg, [key]: undefined, tensorField: key, tensorNames: names };
  return encodeFrame(header, names.map((n) => map[n] as TensorData));
}

/**
 * Decodes a WebSocket message (binary frame or JSON text) into a plain object,
 * tensors reattached. Pass the result to a parse* function to validate it.
 *
 * @example
 * const msg = parseSessionMessage(decodeMessage(event.data));
 */
export function decodeMessage(data: string | ArrayBuffer | Uint8Array): unknown {
  if (typeof data === 'string') {
    try {
      return JSON.parse(data) as unknown;
    } catch (cause) {
      throw new TesseraError('bad-request', 'text message is not valid JSON', { cause });
    }
  }
  const { header, tensors } = decodeFrame<Obj>(data);
  const h = obj(header, 'frame header');
  const key = h.tensorField;
  if (key === undefined) {
    if (tensors.length > 0) bad('frame carries tensors but its header names no tensor field');
    return h;
  }
  const names = h.tensorNames;
  if ((key !== 'inputs' && key !== 'outputs') || !Array.isArray(names) || names.length !== tensors.length) {
    bad('frame header: tensorField must be inputs|outputs and tensorNames must name every tensor');
  }
  const map: TensorMap = {};
  (names as unknown[]).forEach((n, i) => {
    if (typeof n !== 'string' || n in map) bad(`frame header: tensor name ${JSON.stringify(n)} is not a unique string`);
    map[n as string] = tensors[i] as TensorData;
  });
  const { tensorField: _k, tensorNames: _n, ...rest } = h;
  return { ...rest, [key as string]: map };
}
