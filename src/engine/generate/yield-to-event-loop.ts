/**
 * Lets the event loop run between decoder steps. onnxruntime-web's wasm
 * session.run computes synchronously inside its promise, so a loop of steps
 * chained by awaits alone never gives a worker the chance to read a `cancel`
 * message (or a page to paint) until the whole generation is over. A task
 * boundary per step keeps "abort within one step" true across the worker
 * boundary. setTimeout(0) is clamped to 4 ms once nested, which would cost
 * 4 ms a token; scheduler.yield() resumes ahead of queued tasks (that is
 * its purpose), so a queued cancel would still wait. Hence setImmediate
 * (Node) or a MessageChannel round trip (a plain task, behind those queued).
 */

let channel: MessageChannel | undefined;
const waiting: (() => void)[] = [];

/**
 * @example
 * for (;;) { logits = await decoder.step([id]); await yieldToEventLoop(); if (signal.aborted) break; }
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate?.(resolve));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel?.port2.postMessage(0);
  });
}
