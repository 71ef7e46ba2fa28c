/**
 * Demand-driven prewarming, the decision alone: which offering session should
 * load which model, and which prewarmed model should go. Pure: no I/O, no
 * clock (`now` is an input), no randomness. The directory object
 * (worker/lib/prewarm-standby.ts) owns the world (standby sockets, what each
 * has loaded or is loading, the latest pool summaries, model sizes read from
 * the R2 manifests), calls {@link decidePrewarm} whenever any of it changes
 * or a wake-up it was given comes due, and carries out the actions.
 *
 * The rules (thresholds in prewarm-config.ts):
 * - Pressure on a model (queue wait, 429s/s or missed deadlines/s at or
 *   above a threshold) held for `sustainMs` asks one offering session with
 *   enough free budget that does not serve the model yet. One outstanding
 *   ask per model. After a session becomes ready the window starts again,
 *   so it gets time to drain the queue before another is asked; after a
 *   failure, a decline or a timeout the pressure has already lasted, so the
 *   next session is asked at once.
 * - An ask that reports no progress for `askTimeoutMs` is given up: the
 *   session is told to unload it and is not asked for that model again for
 *   `retryAfterMs`; the next decision may pick another session.
 * - Calm (see prewarm-config.ts) held for `idleTtlMs`, and at least
 *   `minResidenceMs` after the model became ready, unloads a prewarmed model.
 *
 * What the policy remembers between calls ({@link PrewarmMemory}) is plain
 * data: losing it (a directory hibernation) only restarts the windows.
 */
import type { StandbyModels } from '../protocol/standby-messages.ts';
import { offersModel } from '../protocol/standby-messages.ts';
import { DEFAULT_PREWARM_CONFIG, type PrewarmConfig } from './prewarm-config.ts';
import type { PoolSummary } from './pool-summary.ts';

/** One prewarm load a standby session holds or was asked for. */
export interface PrewarmLoadState {
  model: string;
  revision: string;
  bytes: number;
  /** `asked`: sent, no progress yet; `loading`: progress reported; `ready`: loaded and joined the pool. */
  state: 'asked' | 'loading' | 'ready';
  /** When it was asked or last reported progress: the ask timeout counts from here. */
  lastHeardAt: number;
  /** When it became ready. */
  readyAt?: number;
}

/** A session holding a standby socket, as the directory knows it. */
export interface StandbyState {
  sessionId: string;
  device: string;
  budgetBytes: number;
  models: StandbyModels;
  /** Models it serves on its own (never asked for). */
  serving: readonly string[];
  loads: readonly PrewarmLoadState[];
}

/** A model's pack size at a revision (from its manifest's totalBytes). */
export interface ModelSize {
  revision: string;
  bytes: number;
}

export interface PrewarmInput {
  now: number;
  /** The latest summary of every pool. */
  pools: readonly PoolSummary[];
  standbys: readonly StandbyState[];
  /** Known pack sizes by model name. */
  sizes: ReadonlyMap<string, ModelSize>;
}

/** What the policy carries between calls. */
export interface PrewarmMemory {
  /** Model -> when its current stretch of pressure began. */
  pressuredSince: Record<string, number>;
  /** Model -> when its current stretch of calm began. */
  calmSince: Record<string, number>;
  /** Model -> when its last ask settled (the sustain window restarts from there). */
  settledAt: Record<string, number>;
  /** Model -> session id -> until when that session is not asked for it. */
  avoid: Record<string, Record<string, number>>;
}

export type PrewarmAction =
  /** Ask the session to load the model and join its pool. */
  | { type: 'prewarm'; sessionId: string; model: string; revision: string; bytes: number; reason: string }
  /** Tell the session to leave the model's pool and dispose of it (or stop loading it). */
  | { type: 'unload'; sessionId: string; model: string; cause: 'idle' | 'timeout'; reason: string }
  /**
   * The model is under pressure but its size at this revision is unknown:
   * read it (the R2 manifest) and decide again. No revision: the current one.
   */
  | { type: 'need-size'; model: string; revision?: string };

export interface PrewarmDecision {
  actions: PrewarmAction[];
  memory: PrewarmMemory;
  /** When to call again if nothing else happens first (a window or timeout comes due). */
  wakeAt?: number;
}

/** @example let memory = emptyPrewarmMemory(); */
export function emptyPrewarmMemory(): PrewarmMemory {
  return { pressuredSince: {}, calmSince: {}, settledAt: {}, avoid: {} };
}

/** One model's demand, across its pools (a sharded model has several). */
interface Demand {
  pressured: boolean;
  calm: boolean;
  why: string;
  revision?: string;
}

function demandOf(model: string, pools: readonly PoolSummary[], now: number, config: PrewarmConfig): Demand {
  const fresh = pools.filter((p) => p.model === model && now - p.at <= config.summaryStaleMs);
  if (fresh.length === 0) return { pressured: false, calm: true, why: 'no recent pool summary' };
  const wait = Math.max(...fresh.map((p) => p.queueWaitMs));
  const limited = fresh.reduce((s, p) => s + p.rateLimitedPerSecond, 0);
  const missed = fresh.reduce((s, p) => s + p.deadlineMissesPerSecond, 0);
  const rps = fresh.reduce((s, p) => s + p.requestsPerSecond, 0);
  const why: string[] = [];
  const orphaned = fresh.some((p) => p.queueDepth > 0) && fresh.every((p) => p.sessions.length === 0);
  if (wait >= config.loadQueueWaitMs) why.push(`queue wait ${Math.round(wait)} ms >= ${config.loadQueueWaitMs} ms`);
  else if (orphaned) why.push('requests queued and no session serving');
  if (limited >= config.loadRateLimitedPerSecond) why.push(`${limited.toFixed(1)} 429s/s >= ${config.loadRateLimitedPerSecond}`);
  if (missed >= config.loadDeadlineMissesPerSecond) why.push(`${missed.toFixed(1)} missed deadlines/s >= ${config.loadDeadlineMissesPerSecond}`);
  const calm = rps < config.unloadRequestsPerSecond && wait <= config.unloadQueueWaitMs && limited === 0 && missed === 0;
  const revision = fresh.find((p) => p.revision !== undefined)?.revision;
  return { pressured: why.length > 0, calm, why: why.join(', ') || `${rps.toFixed(2)} requests/s`, ...(revision !== undefined ? { revision } : {}) };
}

const usedBytes = (s: StandbyState): number => s.loads.reduce((n, l) => n + l.bytes, 0);

/**
 * One decision over the whole world. Call it after every change (a pool
 * summary, an offer, progress, ready, failed, a socket gone) and at `wakeAt`.
 *
 * @example
 * const { actions, memory: next, wakeAt } = decidePrewarm({ now, pools, standbys, sizes }, memory, config);
 */
export function decidePrewarm(input: PrewarmInput, memory: PrewarmMemory = emptyPrewarmMemory(), config: PrewarmConfig = DEFAULT_PREWARM_CONFIG): PrewarmDecision {
  const { now } = input;
  const next: PrewarmMemory = {
    pressuredSince: { ...memory.pressuredSince },
    calmSince: { ...memory.calmSince },
    settledAt: { ...memory.settledAt },
    avoid: Object.fromEntries(Object.entries(memory.avoid).map(([m, by]) => [m, Object.fromEntries(Object.entries(by).filter(([, until]) => until > now))])),
  };
  const actions: PrewarmAction[] = [];
  const wakes: number[] = [];

  // Timed-out asks first: they free budget and may let another session be asked in this same call.
  const standbys = input.standbys.map((s) => ({ ...s, loads: s.loads.filter((l) => {
    if (l.state === 'ready' || now - l.lastHeardAt < config.askTimeoutMs) return true;
    actions.push({ type: 'unload', sessionId: s.sessionId, model: l.model, cause: 'timeout', reason: `no progress for ${config.askTimeoutMs} ms` });
    (next.avoid[l.model] ??= {})[s.sessionId] = now + config.retryAfterMs;
    return false;
  }) }));

  const models = new Set<string>([...input.pools.map((p) => p.model), ...standbys.flatMap((s) => s.loads.map((l) => l.model))]);
  for (const model of [...models].sort()) {
    const demand = demandOf(model, input.pools, now, config);
    if (demand.pressured) next.pressuredSince[model] ??= now;
    else delete next.pressuredSince[model];
    if (demand.calm) next.calmSince[model] ??= now;
    else delete next.calmSince[model];

    const loads = standbys.flatMap((s) => s.loads.filter((l) => l.model === model).map((l) => ({ standby: s, load: l })));
    for (const { load } of loads) if (load.state !== 'ready') wakes.push(load.lastHeardAt + config.askTimeoutMs);

    // Unload: calm for the TTL, counted from no earlier than readiness, and past the minimum residence.
    const calmSince = next.calmSince[model];
    for (const { standby, load } of loads) {
      if (load.state !== 'ready' || calmSince === undefined) continue;
      const readyAt = load.readyAt ?? load.lastHeardAt;
      const due = Math.max(Math.max(calmSince, readyAt) + config.idleTtlMs, readyAt + config.minResidenceMs);
      if (now >= due) {
        actions.push({ type: 'unload', sessionId: standby.sessionId, model, cause: 'idle', reason: `idle for ${Math.round((now - Math.max(calmSince, readyAt)) / 1000)} s (${demand.why})` });
        standby.loads = standby.loads.filter((l) => l !== load);
      } else {
        wakes.push(due);
      }
    }

    // Load: sustained pressure, no outstanding ask, room for one more prewarmed session.
    const since = next.pressuredSince[model];
    if (since === undefined) continue;
    const windowStart = Math.max(since, next.settledAt[model] ?? -Infinity);
    if (now < windowStart + config.sustainMs) {
      wakes.push(windowStart + config.sustainMs);
      continue;
    }
    if (loads.some(({ load }) => load.state !== 'ready')) continue;
    if (loads.length >= config.maxPrewarmedPerModel) continue;
    const size = input.sizes.get(model);
    if (!size || (demand.revision !== undefined && size.revision !== demand.revision)) {
      actions.push({ type: 'need-size', model, ...(demand.revision !== undefined ? { revision: demand.revision } : {}) });
      continue;
    }
    const avoid = next.avoid[model] ?? {};
    const candidates = standbys
      .filter((s) => offersModel(s.models, model) && !s.serving.includes(model) && !s.loads.some((l) => l.model === model))
      .filter((s) => avoid[s.sessionId] === undefined && s.budgetBytes - usedBytes(s) >= size.bytes)
      // Most free budget first (it can take the most after this), then a stable order.
      .sort((a, b) => (b.budgetBytes - usedBytes(b)) - (a.budgetBytes - usedBytes(a)) || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
    const chosen = candidates[0];
    if (!chosen) continue;
    actions.push({ type: 'prewarm', sessionId: chosen.sessionId, model, revision: size.revision, bytes: size.bytes, reason: `${demand.why} for ${Math.round((now - since) / 1000)} s` });
    chosen.loads = [...chosen.loads, { model, revision: size.revision, bytes: size.bytes, state: 'asked', lastHeardAt: now }];
    wakes.push(now + config.askTimeoutMs);
  }
  // Memory of models nobody mentions any more is dropped, so it cannot grow without bound.
  for (const key of ['pressuredSince', 'calmSince', 'settledAt', 'avoid'] as const) {
    for (const model of Object.keys(next[key])) if (!models.has(model)) delete next[key][model];
  }
  for (const [model, by] of Object.entries(next.avoid)) {
    if (Object.keys(by).length === 0) delete next.avoid[model];
    else wakes.push(Math.min(...Object.values(by)));
  }
  const future = wakes.filter((t) => t > now);
  return { actions, memory: next, ...(future.length > 0 ? { wakeAt: Math.min(...future) } : {}) };
}

/**
 * Records that an ask settled. `ready`: the sustain window restarts from
 * `now` (the new session gets time to take load). `failed` (or declined):
 * that session is not asked for the model again for `retryAfterMs`, and
 * another may be asked at once.
 *
 * @example
 * memory = settlePrewarm(memory, 'mlp', 's2', now, 'failed');
 */
export function settlePrewarm(memory: PrewarmMemory, model: string, sessionId: string, now: number, outcome: 'ready' | 'failed', config: PrewarmConfig = DEFAULT_PREWARM_CONFIG): PrewarmMemory {
  if (outcome === 'ready') return { ...memory, settledAt: { ...memory.settledAt, [model]: now } };
  return { ...memory, avoid: { ...memory.avoid, [model]: { ...memory.avoid[model], [sessionId]: now + config.retryAfterMs } } };
}
