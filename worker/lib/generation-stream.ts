/**
 * The OpenAI routes' side of a generation: starts it at the coordinator
 * object and reads the object's NDJSON event stream one event at a time, as
 * the events arrive. A stream that ends without `done` or `error` (the object
 * was evicted, the RPC broke) reads as an `unavailable` error, so a caller
 * can never mistake a truncated answer for a whole one.
 */
import type { GenerationRequest } from '../../src/coordinator/actions.ts';
import type { ErrorData } from '../../src/errors.ts';
import type { GenerationStreamEvent } from '../coordinator-do.ts';
import { HttpError } from '../http-error.ts';
import { poolOf, type PoolEnv } from './coordinator-client.ts';
import type { SaturationHints } from './saturation-hint.ts';

export interface GenerationStream {
  readonly id: string;
  /** The next event; after `done` or `error`, undefined. */
  next(): Promise<GenerationStreamEvent | undefined>;
  /** The client left: stop reading and cancel the generation on its session. */
  cancel(): Promise<void>;
}

/**
 * @example
 * const events = await openGeneration(c.env, 'llama', { prompt: 'Hi' }, false);
 * for (let e = await events.next(); e; e = await events.next()) console.log(e.type);
 */
export async function openGeneration(env: PoolEnv, model: string, request: GenerationRequest['request'], trace: boolean, id = crypto.randomUUID()): Promise<GenerationStream> {
  const stub = poolOf(env, model);
  const body = (await stub.generate({ id, model, request }, trace)) as ReadableStream<Uint8Array>;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let ended = false;
  let cancelled = false;
  const lost = (why: string): GenerationStreamEvent => ({
    type: 'error', chunks: 0,
    error: { name: 'TesseraError', code: 'unavailable', message: `the coordinator's stream ended before the generation finished (${why}); the output is incomplete` },
  });
  return {
    id,
    async next() {
      if (ended) return undefined;
      for (;;) {
        const newline = buffered.indexOf('\n');
        if (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim() === '') continue;
          const event = JSON.parse(line) as GenerationStreamEvent;
          if (event.type !== 'chunk') ended = true;
          return event;
        }
        let read: ReadableStreamReadResult<Uint8Array>;
        try {
          read = await reader.read();
        } catch (err) {
          ended = true;
          return lost((err as Error).message);
        }
        if (read.done) {
          ended = true;
          return lost('no final event');
        }
        buffered += decoder.decode(read.value, { stream: true });
      }
    },
    async cancel() {
      if (cancelled) return;
      cancelled = true;
      const wasEnded = ended;
      ended = true;
      // Both ways, because either alone may not arrive: cancelling the RPC
      // stream reaches the stream's cancel() in the object, and the explicit
      // call covers a runtime that tears the stream down without propagating it.
      await Promise.allSettled([reader.cancel(), wasEnded ? Promise.resolve() : stub.cancel(id)]);
    },
  };
}

/** HTTP status for a generation that failed before its first chunk. */
const STATUS_OF: Partial<Record<string, number>> = {
  'rate-limited': 429,
  unavailable: 503,
  aborted: 503,
  'session-closed': 503,
  timeout: 504,
  'invalid-argument': 400,
  'bad-request': 400,
  'backend-error': 500,
};

/**
 * The HttpError for an error event that came before any chunk: 429 with
 * Retry-After when the queue is full, 400 when the session refused the input
 * (`invalid-argument`, e.g. a prompt past the context), 503/504 otherwise.
 *
 * @example
 * if (first.type === 'error') throw generationHttpError(first.error, first.retryAfterSeconds);
 */
export function generationHttpError(error: ErrorData, retryAfterSeconds?: number): HttpError {
  const headers: Record<string, string> = {};
  if (error.code === 'rate-limited') headers['Retry-After'] = String(retryAfterSeconds ?? 1);
  return new HttpError(STATUS_OF[error.code] ?? 502, error.code, error.message, { headers, ...(error.details ? { details: error.details } : {}) });
}

/**
 * A generation's first event, through the isolate's saturation hints (the
 * generation side of inferOrThrow): it decides the HTTP status, so an error
 * or an empty stream is thrown as its HttpError, a pool's 429 sets the
 * model's hint, and any other answer clears it.
 *
 * @example
 * const first = await firstEventOrThrow(events, 'llama', saturation); // a chunk, or done
 */
export async function firstEventOrThrow(events: GenerationStream, model: string, saturation: SaturationHints): Promise<GenerationStreamEvent> {
  // The pool already has this request (openGeneration): learn from its answer, never refuse it on a hint set since.
  return saturation.learn(model, async () => {
    const e = await events.next();
    if (!e || e.type === 'error') {
      throw e ? generationHttpError(e.error, e.retryAfterSeconds) : new HttpError(502, 'unavailable', 'the generation ended without an answer');
    }
    return e;
  });
}
