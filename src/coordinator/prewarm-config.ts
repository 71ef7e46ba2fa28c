/**
 * Prewarming thresholds (prewarm-policy.ts), validated once. Times are
 * milliseconds of the injected clock. The Worker reads overrides from the
 * `TESSERA_PREWARM_CONFIG` var (JSON of Partial<PrewarmConfig>).
 *
 * Hysteresis, so a model never flaps between loaded and unloaded: loading
 * needs *pressure* (a queue wait, 429s or deadline misses at or above the
 * `load*` thresholds) held for `sustainMs`; unloading needs *calm* (requests
 * per second below `unloadRequestsPerSecond`, queue wait at or below
 * `unloadQueueWaitMs`, which must be below `loadQueueWaitMs`, and no 429s or
 * missed deadlines) held for `idleTtlMs`, and never before `minResidenceMs`
 * after the model became ready. Between the two bands nothing happens.
 */
import { TesseraError } from '../errors.ts';

export interface PrewarmConfig {
  /** Pressure: a pool's queue wait (PoolSummary.queueWaitMs, Little's law) at or above this. */
  loadQueueWaitMs: number;
  /** Pressure: 429s per second at or above this. */
  loadRateLimitedPerSecond: number;
  /** Pressure: missed deadlines per second at or above this. */
  loadDeadlineMissesPerSecond: number;
  /** Pressure must hold this long before a session is asked (and again after each ask is settled). */
  sustainMs: number;
  /** An asked load that reports no progress for this long is given up: the session is told to unload it and another is tried. */
  askTimeoutMs: number;
  /** A session that failed, declined or timed out on a model is not asked for that model again for this long. */
  retryAfterMs: number;
  /** Calm: a pool's requests per second below this. */
  unloadRequestsPerSecond: number;
  /** Calm: a median queue wait at or below this (must be below loadQueueWaitMs). */
  unloadQueueWaitMs: number;
  /** Calm held this long unloads a prewarmed model. */
  idleTtlMs: number;
  /** A prewarmed model stays at least this long after it became ready, however calm its pool. */
  minResidenceMs: number;
  /** Most sessions prewarmed for one model at once (ready or loading). */
  maxPrewarmedPerModel: number;
  /**
   * A pool summary older than this says nothing: it is not pressure. Pools
   * push on every change (at most about once a second), so a silent pool has
   * no traffic: it counts as calm.
   */
  summaryStaleMs: number;
}

export const DEFAULT_PREWARM_CONFIG: Readonly<PrewarmConfig> = Object.freeze({
  // 250 ms queued is already several batches behind for an interactive model.
  loadQueueWaitMs: 250,
  loadRateLimitedPerSecond: 1,
  loadDeadlineMissesPerSecond: 0.5,
  // Three summaries in a row (pools push about once a second): one spike does not load a model.
  sustainMs: 3_000,
  askTimeoutMs: 60_000,
  retryAfterMs: 5 * 60_000,
  unloadRequestsPerSecond: 0.1,
  unloadQueueWaitMs: 20,
  idleTtlMs: 5 * 60_000,
  minResidenceMs: 2 * 60_000,
  maxPrewarmedPerModel: 4,
  summaryStaleMs: 10_000,
});

/**
 * Fills defaults and checks every value; throws `invalid-argument` naming the setting.
 *
 * @example
 * const config = resolvePrewarmConfig({ sustainMs: 500, idleTtlMs: 5_000 });
 */
export function resolvePrewarmConfig(partial: Partial<PrewarmConfig> = {}): PrewarmConfig {
  const config = { ...DEFAULT_PREWARM_CONFIG, ...partial };
  const need = (ok: boolean, key: keyof PrewarmConfig, what: string): void => {
    if (!ok) throw new TesseraError('invalid-argument', `prewarm config "${key}" ${what}, got ${JSON.stringify(config[key])}`);
  };
  for (const key of ['loadQueueWaitMs', 'loadRateLimitedPerSecond', 'loadDeadlineMissesPerSecond', 'askTimeoutMs', 'idleTtlMs', 'unloadRequestsPerSecond', 'summaryStaleMs'] as const) {
    need(typeof config[key] === 'number' && Number.isFinite(config[key]) && config[key] > 0, key, 'must be a number > 0');
  }
  for (const key of ['sustainMs', 'retryAfterMs', 'unloadQueueWaitMs', 'minResidenceMs'] as const) {
    need(typeof config[key] === 'number' && Number.isFinite(config[key]) && config[key] >= 0, key, 'must be a number >= 0');
  }
  need(Number.isSafeInteger(config.maxPrewarmedPerModel) && config.maxPrewarmedPerModel >= 1, 'maxPrewarmedPerModel', 'must be an integer >= 1');
  // Hysteresis: a queue wait that loads a model must never also count as calm.
  need(config.unloadQueueWaitMs < config.loadQueueWaitMs, 'unloadQueueWaitMs', `must be below loadQueueWaitMs (${config.loadQueueWaitMs})`);
  return config;
}

/**
 * Reads the `TESSERA_PREWARM_CONFIG` var: JSON of Partial<PrewarmConfig>.
 * Unset or empty: the defaults. Throws `invalid-argument` on bad JSON or a bad value.
 *
 * @example
 * const config = prewarmConfigFromVar(env.TESSERA_PREWARM_CONFIG);
 */
export function prewarmConfigFromVar(text: string | undefined): PrewarmConfig {
  if (text === undefined || text.trim() === '') return resolvePrewarmConfig();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new TesseraError('invalid-argument', 'TESSERA_PREWARM_CONFIG is not valid JSON; set it to e.g. {"sustainMs":1000}', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TesseraError('invalid-argument', 'TESSERA_PREWARM_CONFIG must be a JSON object, e.g. {"sustainMs":1000}');
  }
  const known = new Set(Object.keys(DEFAULT_PREWARM_CONFIG));
  const unknown = Object.keys(parsed).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new TesseraError('invalid-argument', `TESSERA_PREWARM_CONFIG: unknown setting ${unknown.map((k) => `"${k}"`).join(', ')}; known: ${[...known].join(', ')}`);
  return resolvePrewarmConfig(parsed as Partial<PrewarmConfig>);
}
