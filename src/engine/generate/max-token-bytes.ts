/**
 * The tokenizer's longest token, for a text-generation offer: with it the
 * Worker refuses a prompt that provably cannot fit (at least bytes /
 * maxTokenBytes tokens) without asking a session. Computed once from the
 * `tokenizer.json` the generator already parsed (create-text-generator.ts).
 */

/**
 * An upper bound on the UTF-8 bytes one token covers, from a `tokenizer.json`:
 * the longest vocabulary entry or added token, measured in UTF-8 as written.
 * That over-counts byte-level BPE (whose byte alphabet maps some bytes to
 * two-byte characters) and byte-fallback pieces, which only makes the
 * Worker's "at least B / maxTokenBytes tokens" bound weaker, never wrong.
 * Undefined when the file has no vocabulary this understands.
 *
 * @example
 * maxTokenBytes({ model: { vocab: { a: 0, hello: 1 } }, added_tokens: [] }); // 5
 */
export function maxTokenBytes(tokenizer: unknown): number | undefined {
  const t = tokenizer as { model?: { vocab?: unknown }; added_tokens?: { content?: unknown }[] } | null;
  const vocab = t?.model?.vocab;
  let pieces: string[];
  if (Array.isArray(vocab)) pieces = vocab.map((v) => (Array.isArray(v) ? String(v[0]) : String(v))); // Unigram: [piece, score]
  else if (typeof vocab === 'object' && vocab !== null) pieces = Object.keys(vocab); // BPE, WordPiece: piece -> id
  else return undefined;
  for (const a of t?.added_tokens ?? []) if (typeof a.content === 'string') pieces.push(a.content);
  const utf8 = new TextEncoder();
  let longest = 0;
  for (const p of pieces) longest = Math.max(longest, utf8.encode(p).length);
  return longest > 0 ? longest : undefined;
}
