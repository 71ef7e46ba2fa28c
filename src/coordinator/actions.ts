/**
 * What the coordinator asks its host (the Durable Object, a test harness) to
 * do. The coordinator never performs I/O: every method returns these, and the
 * host executes them in order.
 */
import type { ErrorData } from '../errors.ts';
import type { CoordinatorMessage } from '../protocol/coordinator-messages.ts';
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

export type CoordinatorAction =
  | { type: 'send'; sessionId: string; message: CoordinatorMessage }
  | { type: 'respond'; requestId: string; response: InferenceResponse }
  /** Close the session's socket (lease expired, replaced by a newer connection, protocol error). */
  | { type: 'close'; sessionId: string; code: number; reason: string };
