/**
 * Text through the coordinator, which batches requests by stacking tensors
 * along dim 0: each string is one row of a fixed-width uint8 tensor
 * ([n, TEXT_ROW_BYTES], UTF-8, zero-padded), so rows from different requests
 * stack, and the session tokenizes the whole batch at once (tokenizing at the
 * edge would give rows of different lengths, which cannot be stacked, and
 * would put a tokenizer in the Worker).
 */
import { TesseraError } from '../errors.ts';

/** Longest input in UTF-8 bytes (about 512 tokens of English). */
export const TEXT_ROW_BYTES = 2048;
export const TEXT_INPUT = 'text';
export const EMBEDDINGS_OUTPUT = 'embeddings';
/** int32 [n]: tokens each row used, for `usage`. */
export const TOKENS_OUTPUT = 'tokens';

/**
 * @example
 * const t = encodeTextRows(['hello']); // { type: 'uint8', dims: [1, 2048], data }
 */
export function encodeTextRows(texts: readonly string[]): { type: 'uint8'; dims: number[]; data: Uint8Array } {
  const data = new Uint8Array(texts.length * TEXT_ROW_BYTES);
  const encoder = new TextEncoder();
  texts.forEach((t, i) => {
    const bytes = encoder.encode(t);
    if (bytes.byteLength > TEXT_ROW_BYTES) throw new TesseraError('payload-too-large', `text ${i} is ${bytes.byteLength} UTF-8 bytes; send texts of at most ${TEXT_ROW_BYTES} bytes each`, { details: { index: i, bytes: bytes.byteLength, limit: TEXT_ROW_BYTES } });
    data.set(bytes, i * TEXT_ROW_BYTES);
  });
  return { type: 'uint8', dims: [texts.length, TEXT_ROW_BYTES], data };
}

/**
 * @example
 * decodeTextRows(encodeTextRows(['a', 'b']).data); // ['a', 'b']
 */
export function decodeTextRows(data: Uint8Array): string[] {
  const decoder = new TextDecoder();
  const out: string[] = [];
  for (let off = 0; off + TEXT_ROW_BYTES <= data.byteLength; off += TEXT_ROW_BYTES) {
    const row = data.subarray(off, off + TEXT_ROW_BYTES);
    const end = row.indexOf(0);
    out.push(decoder.decode(end === -1 ? row : row.subarray(0, end)));
  }
  return out;
}

/** UTF-8 length, for validation before encoding. */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}
