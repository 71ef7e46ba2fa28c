/**
 * The RPC kit, client side: one request/reply protocol for every engine
 * transport that talks to a Web Worker or a MessagePort (raw sessions,
 * pipelines, generation streams). Its server side is `serveRequests` in
 * rpc-server.ts; the wire types of each protocol live in src/protocol.
 *
 * The conventions both sides keep:
 * - every message is `{ type, id, ... }`; a reply names the request's `id`;
 * - `{ type: 'cancel', id }` asks the server to abort request `id`;
 * - `{ type: 'error', id, error: ErrorData }` fails request `id` (id -1: a
 *   message the server could not read; every waiter fails), rebuilt here with
 *   `fromErrorData` so the caller gets a TesseraError with its code;
 * - `progress` and `chunk` messages are events of a request still under way:
 *   a request may get any number of them before its one final reply (any
 *   other type). `chunk` carries streamed output (tokens as they decode).
 *
 * Adding a streamed request type: add the request and its `chunk` and final
 * reply shapes to the protocol's unions in src/protocol (with their parsers),
 * let the server post `{ type: 'chunk', id, ... }` as output arrives and the
 * final reply when done (an `AbortSignal` it is given stops it on `cancel`),
 * and call `client.stream(...)` (an async iterable of the chunks whose
 * `result` is the final reply) or `client.request(..., { onChunk })`.
 *
 * @example
 * // src/protocol: | { type: 'generate'; id: number; prompt: string }   (request)
 * //               | { type: 'chunk'; id: number; text: string }        (reply, many)
 * //               | { type: 'generated'; id: number; tokens: number }  (reply, last)
 * // server (serveRequests handler):
 * //   case 'generate': {
 * //     for await (const text of model.generate(request.prompt, { signal })) post({ type: 'chunk', id: request.id, text });
 * //     post({ type: 'generated', id: request.id, tokens });
 * //     return;
 * //   }
 * // client:
 * const tokens = client.stream<'generated'>((id) => ({ type: 'generate', id, prompt }), { signal });
 * for await (const chunk of tokens) output.append(chunk.text);
 * const { tokens: count } = await tokens.result;
 */
import { TesseraError, fromErrorData, throwIfAborted } from '../errors.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';

/** What every message of an RPC protocol has. */
export interface RpcMessage {
  type: string;
  id: number;
}

/** The events a request may get before its final reply. */
export type RpcEvent<Res extends RpcMessage> = Extract<Res, { type: 'progress' | 'chunk' }>;
/** The reply types that answer a request. */
export type RpcFinalType<Res extends RpcMessage> = Exclude<Res['type'], 'progress' | 'chunk' | 'error'>;
export type RpcReply<Res extends RpcMessage, T extends string> = Extract<Res, { type: T }>;

export interface RpcClientOptions<Res extends RpcMessage> {
  /** The port to talk to; called on every send, so it may spawn the worker on first use or throw once closed. */
  connect(): WorkerLike;
  /** Validates a message that arrives (throws a TesseraError on a malformed one). */
  parse(data: unknown): Res;
  /** Names the other side in error messages, e.g. `the engine worker`. */
  name: string;
}

export interface RpcRequestOptions<Res extends RpcMessage, F extends Res> {
  signal?: AbortSignal | undefined;
  transfer?: Transferable[] | undefined;
  onProgress?: ((event: Extract<Res, { type: 'progress' }>) => void) | undefined;
  onChunk?: ((event: Extract<Res, { type: 'chunk' }>) => void) | undefined;
  /**
   * After an abort, how long the server may take to stop cleanly before the
   * caller is answered (a load lets its cache writes land). Default 0: at once.
   */
  graceMs?: number | undefined;
  /**
   * A final reply that arrives after the caller was answered `aborted` (the
   * server finished first): release what it made. Default: ignored.
   */
  onLateReply?: ((reply: F) => void) | undefined;
}

/** An async iterable of a request's chunks; `result` is its final reply (or its error). */
export interface RpcStream<C, F> extends AsyncIterable<C> {
  readonly result: Promise<F>;
}

export interface RpcClient<Req extends RpcMessage, Res extends RpcMessage> {
  /** Sends a request and waits for its final reply; an abort sends `cancel` and rejects with `aborted`. */
  request<T extends RpcFinalType<Res>>(build: (id: number) => Req, options?: RpcRequestOptions<Res, RpcReply<Res, T>>): Promise<RpcReply<Res, T>>;
  /** Like `request`, with the chunks as an async iterable (buffered until read). */
  stream<T extends RpcFinalType<Res>>(
    build: (id: number) => Req,
    options?: Omit<RpcRequestOptions<Res, RpcReply<Res, T>>, 'onChunk'>,
  ): RpcStream<Extract<Res, { type: 'chunk' }>, RpcReply<Res, T>>;
  /** Sends a message that expects no reply (e.g. a dispose of something abandoned). */
  post(build: (id: number) => Req, transfer?: Transferable[]): void;
  /** Fails every waiting request with `error`. */
  failAll(error: unknown): void;
  /** Starts listening on the port (done by the first send; call it to hear server errors sooner). */
  listen(): void;
  /** Stops listening and fails every waiting request with `error` (the port is the caller's to end). */
  close(error: unknown): void;
  /** Requests still waiting for a reply, abandoned ones (whose late reply is awaited) included. */
  inFlight(): number;
}

interface Waiter<Res> {
  resolve(reply: Res): void;
  reject(error: unknown): void;
  onEvent(event: Res): void;
}

/**
 * @example
 * const rpc = createRpcClient<WorkerRequest, WorkerResponse>({ connect: () => worker, parse: parseWorkerResponse, name: 'the engine worker' });
 * const { outputs } = await rpc.request<'result'>((id) => ({ type: 'run', id, model, feeds }), { signal });
 */
export function createRpcClient<Req extends RpcMessage, Res extends RpcMessage>(options: RpcClientOptions<Res>): RpcClient<Req, Res> {
  const pending = new Map<number, Waiter<Res>>();
  /** Requests answered `aborted` whose server may still reply: their late reply is handed to onLateReply. */
  const abandoned = new Map<number, (reply: Res) => void>();
  let nextId = 1;
  let port: WorkerLike | undefined;

  const onMessage = (event: Event): void => {
    let message: Res;
    try {
      message = options.parse((event as MessageEvent).data);
    } catch (err) {
      // A reply we cannot read cannot be matched to its caller: fail them all
      // rather than leave them waiting forever.
      failAll(err);
      return;
    }
    const waiter = pending.get(message.id);
    if (message.type === 'progress' || message.type === 'chunk') {
      waiter?.onEvent(message);
      return;
    }
    if (message.type === 'error') {
      abandoned.delete(message.id);
      const error = fromErrorData((message as unknown as { error: Parameters<typeof fromErrorData>[0] }).error);
      if (message.id === -1 && !waiter) return failAll(error);
      pending.delete(message.id);
      waiter?.reject(error);
      return;
    }
    if (!waiter) {
      abandoned.get(message.id)?.(message);
      abandoned.delete(message.id);
      return;
    }
    pending.delete(message.id);
    waiter.resolve(message);
  };

  const onError = (event: Event): void => {
    const message = (event as ErrorEvent).message || `worker ${event.type}`;
    failAll(new TesseraError('internal', `${options.name} failed: ${message}`));
  };

  function listen(): WorkerLike {
    const next = options.connect();
    if (next !== port) {
      detach();
      port = next;
      port.addEventListener('message', onMessage);
      port.addEventListener('error', onError);
      port.addEventListener('messageerror', onError);
      port.start?.();
    }
    return port;
  }

  function detach(): void {
    port?.removeEventListener('message', onMessage);
    port?.removeEventListener('error', onError);
    port?.removeEventListener('messageerror', onError);
    port = undefined;
  }

  function failAll(error: unknown): void {
    const waiters = [...pending.values()];
    pending.clear();
    for (const waiter of waiters) waiter.reject(error);
  }

  function send(message: Req, transfer: Transferable[] = []): void {
    try {
      listen().postMessage(message, transfer);
    } catch (err) {
      // DataCloneError: something in the message cannot cross (a function, a ModelCache).
      throw err instanceof TesseraError ? err : new TesseraError('invalid-argument', `cannot send ${message.type} to ${options.name}: ${(err as Error).message}`, { cause: err });
    }
  }

  function request<T extends RpcFinalType<Res>>(build: (id: number) => Req, call: RpcRequestOptions<Res, RpcReply<Res, T>> = {}): Promise<RpcReply<Res, T>> {
    type F = RpcReply<Res, T>;
    try {
      throwIfAborted(call.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = nextId++;
    const message = build(id);
    return new Promise<F>((resolve, reject) => {
      const signal = call.signal;
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      const onEvent = (event: Res) => {
        if (event.type === 'progress') call.onProgress?.(event as Extract<Res, { type: 'progress' }>);
        else call.onChunk?.(event as Extract<Res, { type: 'chunk' }>);
      };
      const late = call.onLateReply as ((reply: Res) => void) | undefined;
      const onAbort = () => {
        if (!pending.has(id)) return;
        const aborted = new TesseraError('aborted', `${message.type} was aborted`, { cause: signal?.reason });
        try {
          send({ type: 'cancel', id } as Req);
        } catch {
          // The port is gone: nothing to cancel there.
        }
        cleanup();
        const answer = () => {
          if (late) abandoned.set(id, late);
          reject(aborted);
        };
        if (!call.graceMs) {
          pending.delete(id);
          answer();
          return;
        }
        // The server gets a moment to stop cleanly (bounded, so an abort stays prompt).
        const timer = setTimeout(() => {
          if (!pending.delete(id)) return;
          answer();
        }, call.graceMs);
        pending.set(id, {
          onEvent: () => {},
          resolve: (reply) => {
            // It finished before the cancel arrived: release what it made.
            clearTimeout(timer);
            late?.(reply);
            reject(aborted);
          },
          reject: () => {
            clearTimeout(timer);
            reject(aborted);
          },
        });
      };
      pending.set(id, {
        onEvent,
        resolve: (reply) => {
          cleanup();
          resolve(reply as F);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        send(message, call.transfer ?? []);
      } catch (err) {
        pending.delete(id);
        cleanup();
        reject(err);
      }
    });
  }

  function stream<T extends RpcFinalType<Res>>(
    build: (id: number) => Req,
    call: Omit<RpcRequestOptions<Res, RpcReply<Res, T>>, 'onChunk'> = {},
  ): RpcStream<Extract<Res, { type: 'chunk' }>, RpcReply<Res, T>> {
    type C = Extract<Res, { type: 'chunk' }>;
    const buffered: C[] = [];
    let wake: (() => void) | undefined;
    let settled = false;
    const result = request<T>(build, {
      ...call,
      onChunk: (chunk) => {
        buffered.push(chunk);
        wake?.();
      },
    });
    // Settles the iterator too; the caller that only iterates still sees the error there.
    const done = result.then(
      () => {
        settled = true;
        wake?.();
      },
      () => {
        settled = true;
        wake?.();
      },
    );
    void done;
    return {
      result,
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (buffered.length > 0) {
            yield buffered.shift() as C;
            continue;
          }
          if (settled) {
            await result; // throws the request's error, if any
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    };
  }

  return {
    request,
    stream,
    post(build, transfer = []) {
      send(build(nextId++), transfer);
    },
    failAll,
    listen() {
      listen();
    },
    close(error) {
      detach();
      failAll(error);
    },
    inFlight: () => pending.size + abandoned.size,
  };
}
