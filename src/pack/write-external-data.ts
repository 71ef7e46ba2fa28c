/**
 * Streams one planned external data file (see externalize-initializers.ts) to
 * disk: zero padding between tensors, inline tensor bytes as they are, and
 * bytes of existing data files read in pieces, so memory stays bounded
 * whatever the model size. Node only.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError, throwIfAborted } from '../errors.ts';
import type { ExternalFilePlan } from './externalize-initializers.ts';
import { HashingFileWriter, type HashedFile } from './hashing-file-writer.ts';

/** Reads and writes at most this much at a time. */
const PIECE = 4 * 1024 * 1024;

export interface WriteExternalDataOptions {
  /** Folder that `file` sources' locations are relative to (the input model's folder). */
  sourceDir: string;
  chunkSize: number;
  /** Called with the number of bytes just written. */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * @example
 * const hashed = await writeExternalData(plan, 'out/model.onnx.data', { sourceDir: 'in', chunkSize: 8 << 20 });
 */
export async function writeExternalData(plan: ExternalFilePlan, outPath: string, options: WriteExternalDataOptions): Promise<HashedFile> {
  const writer = await HashingFileWriter.create(outPath, options.chunkSize);
  const sources = new Map<string, FileHandle>();
  try {
    for (const segment of plan.segments) {
      throwIfAborted(options.signal);
      const padding = segment.offset - writer.size;
      await writer.writeZeros(padding);
      options.onBytes?.(padding);
      const source = segment.source;
      switch (source.type) {
        case 'bytes':
          for (let at = 0; at < source.bytes.byteLength; at += PIECE) {
            const piece = source.bytes.subarray(at, Math.min(at + PIECE, source.bytes.byteLength));
            await writer.write(piece);
            options.onBytes?.(piece.byteLength);
          }
          break;
        case 'file': {
          let handle = sources.get(source.location);
          if (!handle) {
            handle = await open(join(options.sourceDir, source.location), 'r');
            sources.set(source.location, handle);
          }
          const buffer = new Uint8Array(Math.min(PIECE, Math.max(source.length, 1)));
          for (let at = 0; at < source.length; ) {
            const want = Math.min(buffer.byteLength, source.length - at);
            const { bytesRead } = await handle.read(buffer, 0, want, source.offset + at);
            if (bytesRead === 0) throw new TesseraError('invalid-model', `${source.location} ended early at byte ${source.offset + at}: the external data file is shorter than the graph says; re-export the model`, { details: { file: source.location, at: source.offset + at } });
            await writer.write(buffer.subarray(0, bytesRead));
            options.onBytes?.(bytesRead);
            at += bytesRead;
          }
          break;
        }
        default:
          source satisfies never;
      }
    }
    return await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  } finally {
    for (const handle of sources.values()) await handle.close().catch(() => undefined);
  }
}
