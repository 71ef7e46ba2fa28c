/**
 * A workaround for onnxruntime-web's JSPI build, shared by Tessera's sessions
 * (src/backend/ort.ts) and bench:load's plain-ORT peer, which would otherwise
 * hang on the same ORT behaviour.
 */

/**
 * The Blob ORT's JSPI build reads, with every slice it takes and every stream
 * it opens on one kept in `reading`. ORT reads an initializer with
 * `blob.slice(start, end).stream()` and a reader, awaited from a wasm stack
 * that JSPI has suspended; if nothing else holds that stream, a garbage
 * collection meanwhile takes the stream with its pending read, the wasm stack
 * is never resumed and `InferenceSession.create` never settles. Seen in about
 * one cold load in five in a production build (a cold load leaves the most
 * garbage), and in every streamed load, cold or warm, when `gc()` was forced
 * every 15 ms during creation; never on the copying path. Holding them here
 * until the creation settles costs a few objects per initializer.
 *
 * @example
 * const reading = new Set<unknown>();
 * try {
 *   await ort.InferenceSession.create(graph, { externalData: [{ path, data: rootedBlob(blob, reading) }] });
 * } finally {
 *   reading.clear(); // the creation settled: ORT reads no more
 * }
 */
export function rootedBlob(blob: Blob, reading: Set<unknown>): Blob {
  const whole = blob.slice(0, blob.size, blob.type); // a new handle on the same bytes, no copy
  whole.slice = (start?: number, end?: number, type?: string): Blob => {
    const part = Blob.prototype.slice.call(blob, start, end, type);
    reading.add(part);
    part.stream = () => {
      const stream = Blob.prototype.stream.call(part);
      reading.add(stream);
      return stream;
    };
    return part;
  };
  return whole;
}
