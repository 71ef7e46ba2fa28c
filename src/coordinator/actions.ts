/**
 * What the coordinator asks its host (the Durable Object, a test harness) to
 * do. The coordinator never performs I/O: every method returns these, and the
 * host executes them in order.
 */
import type { ErrorData } from '../errors.ts';
import type { CoordinatorMessage } from '../protocol/coordinator-messages.ts';
import type { GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';
import type { TensorMap } from '../protocol/tensor.ts';

/** One inference request as the API hands it in. */
export interface InferenceRequest {
  /** Unique among live requests. */
  id: string;
  model: string;
  inputs: TensorMap;
  /** Absolute time (host clock, ms) after which the request gets `timeout`; default now + requestTimeoutMs. */
  deadline?: number;
}

export type InferenceResponse =
  | {
      type: 'result';
      outputs: TensorMap;
      sessionId: string;
      /** The session's own time for the batch (ms), when it reported one. */
      computeMs?: number;
    }
  | {
      type: 'error';
      error: ErrorData;
      /** Set with `rate-limited`: seconds until capacity is likely (the HTTP Retry-After). */
      retryAfterSeconds?: number;
    };

/** One text-generation request as the OpenAI routes hand it in: never batched, streamed back. */
export interface GenerationRequest {
  /** Unique among live requests (inference and generation). */
  id: string;
  model: string;
  request: GenerateRequest;
  /** Absolute time (host clock, ms) by which the first token must arrive; default now + requestTimeoutMs. */
  deadline?: number;
}

/**
 * What a generation's caller sees, in order: any number of `chunk`s, then
 * exactly one `done` or `error`. An error after chunks means the output is
 * truncated (the session died or stalled): the caller must say so, never end
 * the stream as if complete.
 */
export type GenerationEvent =
  | {
      type: 'chunk';
      chunk: GenerateChunk;
      /** The first chunk carries the session's own time to first token (ms), when it reported one. */
      sessionMs?: number;
    }
  | { type: 'done'; result: GenerateResult; sessionId: string }
  | {
      type: 'error';
      error: ErrorData;
      /** Set with `rate-limited`: seconds until capacity is likely (the HTTP Retry-After). */
      retryAfterSeconds?: number;
      /** Chunks the caller already received before the error (0: nothing was sent). */
      chunks: number;
    };

export type CoordinatorAction =
  | { type: 'send'; sessionId: string; message: CoordinatorMessage }
  | { type: 'respond'; requestId: string; response: InferenceResponse }
  /** Deliver a generation event to the request's caller; `done` and `error` end it. */
  | { type: 'stream'; requestId: string; event: GenerationEvent }
  /** Close the session's socket (lease expired, replaced by a newer connection, protocol error). */
  | { type: 'close'; sessionId: string; code: number; reason: string };
