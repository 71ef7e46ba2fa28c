/**
 * Parses human sizes for CLI flags: `8MiB`, `512KiB`, `1GiB`, `4096`, `1.5MB`.
 * Binary units (KiB, MiB, GiB) are powers of 1024; decimal ones (KB, MB, GB)
 * powers of 1000; a bare number is bytes.
 */
import { TesseraError } from '../errors.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

/**
 * @example
 * parseSize('8MiB'); // 8388608
 */
export function parseSize(text: string, flag = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new TesseraError('invalid-argument', `${flag} "${text}" is not a size: use bytes or a unit, e.g. 8MiB, 512KiB, 1GiB`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new TesseraError('invalid-argument', `${flag} "${text}" must be a positive size`);
  }
  return bytes;
}

/** 8388608 -> "8.0 MiB" */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(1)} ${units[i]}`;
}
