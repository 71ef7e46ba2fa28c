/**
 * Picks the session a batch goes to. Candidates are already filtered (model
 * warm, not backed off, and a free slot except for `blind-round-robin` and
 * `earliest-completion`) and listed in join order.
 *
 * The default is exact join-shortest-expected-delay: one coordinator object
 * sees every dispatch and every completion, so its view of each session's
 * load is exact and fresh, and an O(n) scan over the (tens of) sessions in a
 * pool costs microseconds. Power-of-two-choices exists to dodge stale load
 * information and herding when many dispatchers share sessions, or to make
 * the choice O(1) with thousands of them; with one dispatcher it only loses
 * accuracy (it can miss the single idle session). It is kept as an option for
 * when coordinators are sharded and for comparison. In the simulation (three
 * 10 ms sessions and one 40 ms, four closed-loop clients) exact selection
 * reached 0.92 of summed capacity, power-of-two 0.82, round-robin 0.31.
 *
 * `earliest-completion` offers busy sessions too, so a request can wait for a
 * fast session rather than start on a slow free one. It is not the default:
 * waiting is not work-conserving. Simulated native (330 ms) + wasm (820 ms),
 * one slot each: with 4 closed-loop clients both policies reach 0.988 of the
 * summed capacity (p99 1140 ms against 1470); with 2, earliest-completion
 * never uses the wasm session (0.71, every request 660 ms) where
 * least-expected-delay gives 0.99. It suits pools whose slow sessions should
 * only absorb overflow; on one host, what a second session costs the first
 * in CPU is invisible to both policies alike.
 */
import { TesseraError } from '../errors.ts';
import type { RoutingPolicy } from './config.ts';

export interface Candidate {
  id: string;
  /** Requests sent and not yet answered. */
  inFlight: number;
  /** Measured requests per second. */
  rate: number;
  /** Join order, for round-robin. */
  order: number;
  /**
   * No free slot (only `earliest-completion` is offered such sessions): the
   * request would wait for one, and `inFlight` counts the requests already
   * waiting for it too.
   */
  full?: boolean;
}

/** Expected delay of one more request on this session, in seconds. */
export function expectedDelay(c: Candidate): number {
  return (c.inFlight + 1) / c.rate;
}

/**
 * @example
 * pickSession('least-expected-delay', [{ id: 'a', inFlight: 2, rate: 10, order: 0 }, { id: 'b', inFlight: 0, rate: 5, order: 1 }], { last: -1 }, Math.random);
 * // -> b (0.2 s expected vs 0.3 s)
 */
export function pickSession<C extends Candidate>(
  policy: RoutingPolicy,
  candidates: readonly C[],
  cursor: { last: number },
  random: () => number,
): C | undefined {
  if (candidates.length === 0) return undefined;
  switch (policy) {
    case 'earliest-completion': {
      // The least expected completion over every session, busy or not; on a
      // tie a free session wins (it starts now), then join order.
      let best = candidates[0] as C;
      for (const c of candidates) {
        const d = expectedDelay(c) - expectedDelay(best);
        if (d < 0 || (d === 0 && best.full === true && c.full !== true)) best = c;
      }
      return best;
    }
    case 'least-expected-delay': {
      let best = candidates[0] as C;
      for (const c of candidates) if (expectedDelay(c) < expectedDelay(best)) best = c;
      return best;
    }
    case 'power-of-two': {
      const n = candidates.length;
      const i = Math.min(n - 1, Math.floor(random() * n));
      if (n === 1) return candidates[0];
      // Second draw from the other n-1, so the two choices are distinct.
      let j = Math.min(n - 2, Math.floor(random() * (n - 1)));
      if (j >= i) j++;
      const a = candidates[i] as C;
      const b = candidates[j] as C;
      return expectedDelay(b) < expectedDelay(a) ? b : a;
    }
    case 'round-robin':
    case 'blind-round-robin': {
      // The first candidate after the last one chosen in join order, wrapping;
      // by order rather than index so a busy or departed session does not
      // send the turn back to the start of the list.
      const next = candidates.find((c) => c.order > cursor.last) ?? (candidates[0] as C);
      cursor.last = next.order;
      return next;
    }
    default: {
      const never: never = policy;
      throw new TesseraError('invalid-argument', `unknown routing policy ${JSON.stringify(never)}`);
    }
  }
}
