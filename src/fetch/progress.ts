/**
 * Load progress: the event type and a tracker that smooths the rate,
 * estimates the time left and throttles events (default 10 per second, plus
 * every phase change and one final event), with an injected clock.
 */

import type { FileProgress, LoadPhase, LoadProgress } from '../protocol/load-progress.ts';

export type { FileProgress, LoadPhase, LoadProgress };

export interface ProgressTracker {
  setPhase(phase: LoadPhase): void;
  /** Bytes placed into `file`'s buffer. */
  placed(file: string, bytes: number, from: 'cache' | 'network'): void;
  /** Body bytes arrived from the network (counted as they stream). */
  received(bytes: number): void;
  /** Marks a file as fetched whole (server ignored Range); emits an event. */
  setFallback(file: string): void;
  finish(): void;
  snapshot(): LoadProgress;
}

/**
 * @example
 * const tracker = createProgressTracker({ files: manifest.files, onProgress: console.log });
 * tracker.setPhase('download');
 * tracker.received(8 << 20); tracker.placed('model.onnx', 8 << 20, 'network');
 * tracker.finish();
 */
export function createProgressTracker(options: {
  files: ReadonlyArray<{ path: string; size: number }>;
  onProgress?: ((progress: LoadProgress) => void) | undefined;
  now?: () => number;
  /** Minimum milliseconds between events; default 100 (10 per second). */
  intervalMs?: number;
  /** Smoothing window of the rate, in milliseconds; default 1000. */
  rateWindowMs?: number;
}): ProgressTracker {
  const now = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? 100;
  const window = options.rateWindowMs ?? 1000;
  const files: Record<string, FileProgress> = {};
  let bytesTotal = 0;
  for (const f of options.files) {
    files[f.path] = { bytesDone: 0, bytesTotal: f.size };
    bytesTotal += f.size;
  }
  let phase: LoadPhase = 'plan';
  let bytesDone = 0;
  let bytesFromCache = 0;
  let bytesFromNetwork = 0;
  let rate = 0;
  let lastSampleAt = now();
  let lastSampleBytes = 0;
  let lastEmit = Number.NEGATIVE_INFINITY;
  let done = false;
  const fallback: string[] = [];

  function sampleRate(t: number): void {
    const dt = t - lastSampleAt;
    if (dt < 50) return; // too short a window to mean anything
    const instant = ((bytesFromNetwork - lastSampleBytes) * 1000) / dt;
    // Time-based EWMA: the weight of history decays with elapsed time, not with event count.
    const alpha = 1 - Math.exp(-dt / window);
    rate = rate === 0 ? instant : rate + alpha * (instant - rate);
    lastSampleAt = t;
    lastSampleBytes = bytesFromNetwork;
  }

  function snapshot(): LoadProgress {
    const remaining = bytesTotal - bytesDone;
    return {
      phase,
      bytesDone,
      bytesTotal,
      bytesFromCache,
      bytesFromNetwork,
      rateBytesPerSec: rate,
      etaSeconds: remaining === 0 ? 0 : rate > 0 ? remaining / rate : undefined,
      files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, { ...v }])),
      rangeFallbackFiles: [...fallback],
      done,
    };
  }

  function emit(force: boolean): void {
    const t = now();
    sampleRate(t);
    if (!options.onProgress || (!force && t - lastEmit < interval)) return;
    lastEmit = t;
    options.onProgress(snapshot());
  }

  return {
    setPhase(next) {
      if (next === phase) return;
      phase = next;
      emit(true);
    },
    placed(file, bytes, from) {
      const entry = files[file];
      if (entry) entry.bytesDone += bytes;
      bytesDone += bytes;
      if (from === 'cache') bytesFromCache += bytes;
      emit(false);
    },
    received(bytes) {
      bytesFromNetwork += bytes;
      emit(false);
    },
    setFallback(file) {
      if (!fallback.includes(file)) fallback.push(file);
      emit(true);
    },
    finish() {
      done = true;
      emit(true);
    },
    snapshot,
  };
}
