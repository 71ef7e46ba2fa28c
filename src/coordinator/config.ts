/**
 * Coordinator settings, validated once. Times are milliseconds of the
 * injected clock; the coordinator itself never reads a clock.
 */
import { TesseraError } from '../errors.ts';

/**
 * How a batch picks its session among those with the model warm and a free slot.
 * - `earliest-completion`: latency-aware join-shortest-expected-delay over
 *   every session with the model, busy ones included: a request goes where
 *   (requests in flight + requests already waiting for it + 1) / measured rate
 *   is least, and waits in the queue when that is a session with no free slot,
 *   rather than going to a free but slower one that would finish it later.
 * - `least-expected-delay`: exact join-shortest-expected-delay, the minimum of
 *   (requests in flight + 1) / measured rate over sessions with a free slot.
 * - `power-of-two`: the better of two candidates drawn at random.
 * - `round-robin`: the next candidate in join order, ignoring load (but still
 *   only among sessions with a free slot).
 * - `blind-round-robin`: the next session with the model in join order,
 *   ignoring load *and* free slots, like a naive HTTP load balancer: sessions
 *   queue the excess themselves. The baseline the benchmark compares against.
 */
export type RoutingPolicy = 'earliest-completion' | 'least-expected-delay' | 'power-of-two' | 'round-robin' | 'blind-round-robin';

export interface CoordinatorConfig {
  /** Largest batch (rows along dim 0) sent to a session; the session's own maxBatch also caps it. */
  maxBatch: number;
  /** How long the oldest queued request may wait for company before its batch goes out anyway. */
  maxDelayMs: number;
  /** Queued (not yet dispatched) requests per model; beyond it requests get `rate-limited`. */
  queueLimit: number;
  /** Deadline for a request that brings none. */
  requestTimeoutMs: number;
  /** A session that sends nothing for this long is gone. */
  leaseMs: number;
  /** How often sessions are told to heartbeat; well under leaseMs so one lost beat is harmless. */
  heartbeatMs: number;
  policy: RoutingPolicy;
  /** First backoff after a session fails with work in flight; doubles per failure. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Time constant of the measured-rate EWMA, in busy milliseconds (routing: quick to follow a session). */
  rateWindowMs: number;
  /**
   * Time constant of the steadier rate that admission by deadline and
   * shedding use, in busy milliseconds (a stalled sample counts as at most 3
   * expected intervals: rate-estimator.ts). A deadline is tens of seconds
   * away, so the rate that decides it is the one averaged over seconds, not
   * the last batch: a burst's own intake holds completions back for a second
   * or two, and the 2 s routing window then halves the estimate and sheds
   * admitted requests that would have made it (measured: bench:coordinator's
   * OCR burst).
   */
  admissionWindowMs: number;
  /**
   * Share of a request's deadline that admission may fill with expected
   * wait (0-1]. The rest absorbs an estimate that turns out optimistic, so
   * what was admitted finishes instead of being shed late: shedding starts
   * once the expected finish passes the time left, so a rate may fall by
   * 1 - headroom before an admitted request is shed.
   */
  admissionHeadroom: number;
}

export const DEFAULT_COORDINATOR_CONFIG: Readonly<CoordinatorConfig> = Object.freeze({
  maxBatch: 8,
  // 2 ms: long enough to catch a burst arriving together, short enough to stay
  // inside the 5 ms added-latency budget at low load.
  maxDelayMs: 2,
  queueLimit: 256,
  requestTimeoutMs: 30_000,
  leaseMs: 15_000,
  heartbeatMs: 5_000,
  policy: 'least-expected-delay',
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  rateWindowMs: 2_000,
  admissionWindowMs: 10_000,
  admissionHeadroom: 0.8,
});

/**
 * Fills defaults and checks every value; throws `invalid-argument` naming the setting.
 *
 * @example
 * const config = resolveConfig({ maxBatch: 4, policy: 'power-of-two' });
 */
export function resolveConfig(partial: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  const config = { ...DEFAULT_COORDINATOR_CONFIG, ...partial };
  const need = (ok: boolean, key: keyof CoordinatorConfig, what: string): void => {
    if (!ok) throw new TesseraError('invalid-argument', `coordinator config "${key}" ${what}, got ${JSON.stringify(config[key])}`);
  };
  need(Number.isSafeInteger(config.maxBatch) && config.maxBatch >= 1, 'maxBatch', 'must be an integer >= 1');
  need(Number.isSafeInteger(config.queueLimit) && config.queueLimit >= 0, 'queueLimit', 'must be an integer >= 0');
  for (const key of ['maxDelayMs'] as const) need(Number.isFinite(config[key]) && config[key] >= 0, key, 'must be >= 0');
  for (const key of ['requestTimeoutMs', 'leaseMs', 'heartbeatMs', 'backoffBaseMs', 'backoffMaxMs', 'rateWindowMs', 'admissionWindowMs'] as const) {
    need(Number.isFinite(config[key]) && config[key] > 0, key, 'must be > 0');
  }
  need(Number.isFinite(config.admissionHeadroom) && config.admissionHeadroom > 0 && config.admissionHeadroom <= 1, 'admissionHeadroom', 'must be in (0, 1]');
  need(config.heartbeatMs < config.leaseMs, 'heartbeatMs', 'must be shorter than leaseMs');
  need(['earliest-completion', 'least-expected-delay', 'power-of-two', 'round-robin', 'blind-round-robin'].includes(config.policy), 'policy', 'must be earliest-completion, least-expected-delay, power-of-two, round-robin or blind-round-robin');
  return config;
}
