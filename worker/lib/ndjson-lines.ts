/**
 * The lines of an NDJSON byte stream, as they arrive (a line split across
 * chunks is joined; blank lines are skipped). Leaving the iteration (a
 * `break`) or aborting `signal` cancels the source stream, so a reader that
 * leaves stops the writer on the other side. The signal matters for a source
 * that is quiet: an async generator's `return()` waits for the pending read,
 * which a quiet source may not answer for a long time; the abort cancels it now.
 *
 * @example
 * for await (const line of ndjsonLines(await directory.feed(), signal)) relay(line);
 */
export async function* ndjsonLines(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<string, void, undefined> {
  // The source's own reader (not a pipeThrough), so cancelling reaches the source at once.
  const reader = stream.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  if (signal?.aborted) cancel();
  signal?.addEventListener('abort', cancel, { once: true });
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
    signal?.removeEventListener('abort', cancel);
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
