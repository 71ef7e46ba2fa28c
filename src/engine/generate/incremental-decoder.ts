/**
 * Token ids -> text as they come, never emitting half a character. Byte-level
 * tokenizers split a multi-byte UTF-8 character across tokens, and decoding a
 * token alone yields U+FFFD; so text is decoded over a small window and held
 * back while it ends in U+FFFD (the "prefix offset / read offset" scheme of
 * Hugging Face's text-generation-inference). The deltas concatenated equal
 * `decode(allIds)`.
 */

export class IncrementalDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private readonly decode: (ids: readonly number[]) => string;

  /** `decode` turns ids into text (special tokens skipped). */
  constructor(decode: (ids: readonly number[]) => string) {
    this.decode = decode;
  }

  /**
   * The text that `id` completes ('' while a character is still partial).
   *
   * @example
   * const d = new IncrementalDecoder((ids) => tokenizer.decode(ids));
   * out += d.push(id); // ... out += d.flush();
   */
  push(id: number): string {
    this.ids.push(id);
    const before = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const after = this.decode(this.ids.slice(this.prefixOffset));
    if (after.length > before.length && !after.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return after.slice(before.length);
    }
    return '';
  }

  /** What is still held back (an incomplete character decodes as U+FFFD, as a whole decode would). */
  flush(): string {
    const before = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const after = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return after.length > before.length ? after.slice(before.length) : '';
  }
}
