import type { LoadProgress } from '../fetch/progress.ts';
import { formatBytes, formatSeconds } from './format.ts';

/**
 * One line for the progress bar: what is happening, bytes, rate, time left,
 * and how much came from this device's cache versus the network.
 *
 * @example
 * progressText(p); // 'Downloading 4.0 MiB of 15.4 MiB · 12.1 MiB/s · 1 s left · 0 B from cache, 4.0 MiB from network'
 */
export function progressText(p: LoadProgress): string {
  const sources = `${formatBytes(p.bytesFromCache)} from cache, ${formatBytes(p.bytesFromNetwork)} from network`;
  switch (p.phase) {
    case 'plan':
      return `Checking the cache and storage quota… (${formatBytes(p.bytesTotal)})`;
    case 'assemble':
      return `Reading ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} from this device`;
    case 'download':
      return `Downloading ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} · ${formatBytes(p.rateBytesPerSec)}/s · ${formatSeconds(p.etaSeconds)} left · ${sources}`;
    case 'session':
      return `Starting the model · ${sources}`;
    default: {
      const unknown: never = p.phase;
      return String(unknown);
    }
  }
}
