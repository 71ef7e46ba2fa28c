/**
 * A byte stream that sends `chunks` (text) one per pull, split wherever the
 * test splits them, as a network would; `onCancel` sees the reader give up.
 */
export function textStream(chunks: string[], onCancel?: () => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const queue = [...chunks];
  return new ReadableStream({
    pull(controller) {
      const next = queue.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(encoder.encode(next));
    },
    cancel: () => onCancel?.(),
  });
}
