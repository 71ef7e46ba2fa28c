/**
 * Load progress events as data: the loader's tracker (src/fetch/progress.ts)
 * makes them, the engine reports them, and the worker protocol carries them
 * across to the page.
 */

/**
 * - `plan`: manifest fetched, cache consulted, quota checked.
 * - `assemble`: cached chunks copied into the file buffers.
 * - `download`: chunks fetched, SHA-256-verified and stored.
 * - `session`: emitted by the engine while it creates the session.
 */
export type LoadPhase = 'plan' | 'download' | 'assemble' | 'session';

export interface FileProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface LoadProgress {
  phase: LoadPhase;
  /** Bytes of the model's files that are in place (from cache or network). */
  bytesDone: number;
  bytesTotal: number;
  bytesFromCache: number;
  /** Body bytes received over the network, retries included. */
  bytesFromNetwork: number;
  /** Network bytes per second, exponentially smoothed; 0 before the first sample. */
  rateBytesPerSec: number;
  /** Seconds left at the current rate; undefined while the rate is unknown. */
  etaSeconds: number | undefined;
  /** Keyed by manifest path. */
  files: Record<string, FileProgress>;
  /** Files fetched with one plain GET because the server ignored `Range` (slower to resume). */
  rangeFallbackFiles: string[];
  /** True on the last event of a load. */
  done: boolean;
}
