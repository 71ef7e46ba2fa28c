/**
 * Writes a file sequentially while computing its SHA-256 and the SHA-256 of
 * each fixed-size chunk, so a pack file is hashed in the same pass that
 * writes it and never has to be held in memory whole. Node only.
 *
 * The hashes are the same as `sha256Hex` (WebCrypto) gives for the same
 * bytes; node:crypto is used here because WebCrypto cannot hash incrementally.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

export interface HashedFile {
  size: number;
  sha256: string;
  chunks: string[];
}

/** Zero padding is written from this shared buffer, in pieces. */
const ZEROS = new Uint8Array(64 * 1024);

/**
 * @example
 * const w = await HashingFileWriter.create('out/model.onnx.data', 8 << 20);
 * await w.write(bytes);
 * const { size, sha256, chunks } = await w.close();
 */
export class HashingFileWriter {
  readonly #handle: FileHandle;
  readonly #chunkSize: number;
  readonly #file = createHash('sha256');
  #chunk: Hash = createHash('sha256');
  #chunkFill = 0;
  #size = 0;
  readonly #chunks: string[] = [];

  private constructor(handle: FileHandle, chunkSize: number) {
    this.#handle = handle;
    this.#chunkSize = chunkSize;
  }

  static async create(path: string, chunkSize: number): Promise<HashingFileWriter> {
    return new HashingFileWriter(await open(path, 'w'), chunkSize);
  }

  get size(): number {
    return this.#size;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.#handle.write(bytes, done, bytes.byteLength - done);
      done += bytesWritten;
    }
    this.#hash(bytes);
  }

  async writeZeros(count: number): Promise<void> {
    for (let left = count; left > 0; left -= ZEROS.byteLength) {
      await this.write(left >= ZEROS.byteLength ? ZEROS : ZEROS.subarray(0, left));
    }
  }

  /** Flushes the last partial chunk and closes the file. */
  async close(): Promise<HashedFile> {
    if (this.#chunkFill > 0) this.#chunks.push(this.#chunk.digest('hex'));
    await this.#handle.close();
    return { size: this.#size, sha256: this.#file.digest('hex'), chunks: this.#chunks };
  }

  /** Closes without results (on error paths). */
  async abort(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
  }

  #hash(bytes: Uint8Array): void {
    this.#file.update(bytes);
    this.#size += bytes.byteLength;
    let offset = 0;
    while (offset < bytes.byteLength) {
      const take = Math.min(this.#chunkSize - this.#chunkFill, bytes.byteLength - offset);
      this.#chunk.update(bytes.subarray(offset, offset + take));
      this.#chunkFill += take;
      offset += take;
      if (this.#chunkFill === this.#chunkSize) {
        this.#chunks.push(this.#chunk.digest('hex'));
        this.#chunk = createHash('sha256');
        this.#chunkFill = 0;
      }
    }
  }
}
