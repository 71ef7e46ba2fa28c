/**
 * The lines of an NDJSON byte stream, as they arrive (a line split across
 * chunks is joined; blank lines are skipped). Cancelling the iteration (a
 * `break`, or `return()`) cancels the source stream, so a reader that leaves
 * stops the writer on the other side.
 *
 * @example
 * for await (const line of ndjsonLines(await directory.feed())) relay(line);
 */
export async function* ndjsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  // The source's own reader (not a pipeThrough), so cancelling reaches the source at once.
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield line;
        newline = buffered.indexOf('\n');
      }
    }
    finished = true;
    const last = (buffered + decoder.decode()).trim();
    if (last !== '') yield last;
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
