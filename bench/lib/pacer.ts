/**
 * The shaping proxy's arithmetic, pure so it is tested without sockets: a
 * pacer is a virtual clock saying when a link is next free. Reserving n bytes
 * moves it on by n / rate; the sender waits until then. A piece of a response
 * goes out when both its connection's pacer and the shared link's allow it.
 */

export interface Pacer {
  readonly bytesPerSec: number;
  /** Epoch ms at which everything reserved so far has been sent. */
  freeAt: number;
}

/**
 * @example
 * const link = createPacer(150e6);
 */
export function createPacer(bytesPerSec: number): Pacer {
  if (!(bytesPerSec > 0)) throw new Error(`a pacer needs a positive rate, got ${bytesPerSec}`);
  return { bytesPerSec, freeAt: 0 };
}

/**
 * Reserves `bytes` on every pacer (a connection's and the link's) and returns
 * how many ms from `now` the sender waits before writing them: until the
 * slowest of them has carried them. Each pacer books the bytes on its own
 * clock, so a slow connection never holds the link idle for the others. A
 * pacer idle since before `now` starts from `now`: idle time is not saved up
 * as credit (no burst above the rate). An infinite rate never delays.
 *
 * @example
 * const wait = reserve([connection, link], 16384, Date.now());
 * setTimeout(() => socket.write(piece), wait);
 */
export function reserve(pacers: readonly Pacer[], bytes: number, now: number): number {
  let done = now;
  for (const p of pacers) {
    if (!Number.isFinite(p.bytesPerSec)) continue;
    p.freeAt = Math.max(now, p.freeAt) + (bytes / p.bytesPerSec) * 1000;
    done = Math.max(done, p.freeAt);
  }
  return done - now;
}
