/**
 * Reads a response body into exactly-sized buffers, counting bytes as they
 * arrive. A body that ends early or breaks off mid-stream is `truncated-body`
 * (retriable); one that runs long is a server bug (`http-error`).
 */
import { TesseraError } from '../errors.ts';
import { abortedError } from './retry.ts';

export interface BodyContext {
  /** For messages: which file and chunk this body is. */
  file: string;
  chunk?: number;
  signal?: AbortSignal | undefined;
  onBytes?: ((n: number) => void) | undefined;
  /**
   * Called when the body breaks off (cut connection, abort) after some bytes:
   * what arrived so far, `prefix` included, for a later Range request to
   * continue from. Not called for a server that sends too much.
   */
  onPartial?: ((received: Uint8Array) => void) | undefined;
}

/**
 * `prefix`: bytes already held (a broken-off earlier download of the same
 * range), placed first; the body is the rest.
 *
 * @example
 * const bytes = await readBody(response, 8 << 20, { file: 'model.onnx.data', chunk: 3 });
 */
export async function readBody(response: Response, expected: number, ctx: BodyContext, prefix?: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let filled = 0;
  if (prefix) {
    out.set(prefix);
    filled = prefix.byteLength;
  }
  const brokeOff = (err: unknown) => {
    const code = (err as { code?: string } | undefined)?.code;
    if (filled > 0 && (code === 'truncated-body' || code === 'aborted')) ctx.onPartial?.(out.subarray(0, filled));
    return err;
  };
  try {
    await pump(response, ctx, (part) => {
      if (filled + part.byteLength > expected) {
        throw new TesseraError('http-error', `${where(ctx)}: the server sent more than the ${expected} bytes it announced`, {
          details: { file: ctx.file, chunk: ctx.chunk, status: response.status },
        });
      }
      out.set(part, filled);
      filled += part.byteLength;
    });
  } catch (err) {
    throw brokeOff(err);
  }
  if (filled < expected) throw brokeOff(truncated(ctx, filled, expected));
  return out;
}

/**
 * Streams a whole body and hands it on in consecutive pieces of the given
 * sizes (a file's chunks), so each chunk can be verified and stored while
 * the rest is still arriving.
 *
 * @example
 * await streamChunks(response, [8 << 20, 8 << 20, 1234], ctx, async (i, bytes) => store(i, bytes));
 */
export async function streamChunks(
  response: Response,
  sizes: readonly number[],
  ctx: BodyContext,
  onChunk: (index: number, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const total = sizes.reduce((a, b) => a + b, 0);
  let index = 0;
  let buf = new Uint8Array(sizes[0] ?? 0);
  let filled = 0;
  let seen = 0;
  await pump(response, ctx, async (part) => {
    seen += part.byteLength;
    if (seen > total) {
      throw new TesseraError('http-error', `${where(ctx)}: the server sent more than the file's ${total} bytes`, {
        details: { file: ctx.file, status: response.status },
      });
    }
    let offset = 0;
    while (offset < part.byteLength) {
      const take = Math.min(buf.byteLength - filled, part.byteLength - offset);
      buf.set(part.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === buf.byteLength) {
        await onChunk(index, buf);
        index += 1;
        buf = new Uint8Array(sizes[index] ?? 0);
        filled = 0;
      }
    }
  });
  if (seen < total) throw truncated(ctx, seen, total);
}

async function pump(response: Response, ctx: BodyContext, onPart: (part: Uint8Array) => void | Promise<void>): Promise<void> {
  if (!response.body) {
    if (ctx.signal?.aborted) throw abortedError(ctx.signal);
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        if (ctx.signal?.aborted) throw abortedError(ctx.signal);
        throw new TesseraError('truncated-body', `${where(ctx)}: the connection broke off mid-body (${(err as Error)?.message ?? err})`, {
          cause: err,
          details: { file: ctx.file, chunk: ctx.chunk },
        });
      }
      if (result.done) break;
      ctx.onBytes?.(result.value.byteLength);
      await onPart(result.value);
    }
  } catch (err) {
    // Stop the download: nothing more from this body will be used.
    reader.cancel().catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}

function truncated(ctx: BodyContext, got: number, expected: number): TesseraError {
  return new TesseraError('truncated-body', `${where(ctx)}: the body ended after ${got} of ${expected} bytes`, {
    details: { file: ctx.file, chunk: ctx.chunk, got, expected },
  });
}

export function where(ctx: { file: string; chunk?: number | undefined }): string {
  return ctx.chunk === undefined ? ctx.file : `${ctx.file} chunk ${ctx.chunk}`;
}
