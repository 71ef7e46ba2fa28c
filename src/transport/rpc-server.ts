/**
 * The RPC kit, server side (the client side and the protocol's conventions
 * are in rpc-client.ts): parse each message, answer a bad one or a failed one
 * with an `error` response, and abort an in-flight request when the page
 * sends `cancel` for its id. The handler posts its own replies: any number of
 * `progress` / `chunk` events, then one final reply.
 */
import { TesseraError, toErrorData } from '../errors.ts';

/** A Worker's global scope, a MessagePort, or anything with the same three methods. */
export interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  /** MessagePorts deliver nothing to addEventListener listeners until started. */
  start?(): void;
}

/** Every request has a `type` and an `id`; `cancel` names the request to abort. */
export type ServedRequest = { type: string; id: number };

/**
 * Serves requests on `port` until the returned function is called. `handle`
 * gets every request but `cancel`, with a signal that `cancel` aborts; what
 * it throws is posted as `{ type: 'error', id, error }`.
 *
 * @example
 * serveRequests(self, parseWorkerRequest, async (request, signal) => { ... });
 */
export function serveRequests<R extends ServedRequest>(
  port: PortLike,
  parse: (data: unknown) => R,
  handle: (request: Exclude<R, { type: 'cancel' }>, signal: AbortSignal) => Promise<void>,
): () => void {
  const inFlight = new Map<number, AbortController>();
  const postError = (id: number, err: unknown) => port.postMessage({ type: 'error', id, error: toErrorData(err) });

  const onMessage = (event: MessageEvent) => {
    let request: R;
    try {
      request = parse(event.data);
    } catch (err) {
      const id = (event.data as { id?: unknown } | null)?.id;
      postError(typeof id === 'number' && Number.isInteger(id) ? id : -1, err);
      return;
    }
    if (request.type === 'cancel') {
      inFlight.get(request.id)?.abort(new TesseraError('aborted', 'cancelled by the page'));
      return;
    }
    const controller = new AbortController();
    inFlight.set(request.id, controller);
    handle(request as Exclude<R, { type: 'cancel' }>, controller.signal)
      .catch((err: unknown) => postError(request.id, err))
      .finally(() => inFlight.delete(request.id));
  };

  port.addEventListener('message', onMessage);
  port.start?.();
  return () => port.removeEventListener('message', onMessage);
}
