/**
 * Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` once per
 * metric family, label values escaped (\\, \", \n), histograms as cumulative
 * `_bucket{le=...}` series ending in `le="+Inf"`, then `_sum` and `_count`.
 */
import type { MetricsSnapshot } from './metrics.ts';

/** Content-Type for the rendered text. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs).map(([k, v]) => `${k}="${escape(v)}"`).join(',');
  return body ? `{${body}}` : '';
}

// Go's strconv formatting, which Prometheus parses: plain decimals, +Inf.
const num = (n: number): string => (n === Infinity ? '+Inf' : String(n));

/**
 * One coordinator's counters (a single pool, or a bare Coordinator), without
 * pool labels.
 *
 * @example
 * return new Response(renderPrometheus(coordinator.metrics()), { headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } });
 */
export function renderPrometheus(s: MetricsSnapshot): string {
  return renderPoolsPrometheus({ sessions: s.sessions, pools: [{ metrics: s }] });
}

/** One pool's part of a multi-pool rendering: its name labels every series it contributes. */
export interface PoolMetrics {
  /** Absent: render without a `pool` label (a lone coordinator). */
  pool?: string;
  metrics: MetricsSnapshot;
}

/**
 * Every pool's counters in one exposition, each series labelled by model and
 * pool (a model's pool is named after it; a sharded model would have several).
 * `tessera_sessions` counts distinct sessions (a session serving two models is
 * in two pools, and counted once); `tessera_pools` how many pools reported.
 *
 * @example
 * renderPoolsPrometheus({ sessions: 3, pools: summaries.map((p) => ({ pool: p.pool, metrics: p.metrics })) });
 */
export function renderPoolsPrometheus(input: { sessions: number; pools: PoolMetrics[] }): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  // The pool label goes right after model, so one model's pools sort together.
  const withPool = (p: PoolMetrics, model: string | undefined, rest: Record<string, string> = {}): string =>
    labels({ ...(model !== undefined ? { model } : {}), ...(p.pool !== undefined ? { pool: p.pool } : {}), ...rest });
  const pools = input.pools;
  family('tessera_sessions', 'gauge', 'Client sessions connected to the coordinator (distinct sessions over all pools).');
  out.push(`tessera_sessions ${input.sessions}`);
  if (pools.some((p) => p.pool !== undefined)) {
    family('tessera_pools', 'gauge', 'Coordinator pools (one Durable Object per model) that reported to the directory.');
    out.push(`tessera_pools ${pools.length}`);
  }
  family('tessera_model_sessions', 'gauge', 'Connected sessions with the model warm.');
  for (const p of pools) for (const r of p.metrics.sessionsByModel) out.push(`tessera_model_sessions${withPool(p, r.model)} ${r.count}`);
  family('tessera_requests_total', 'counter', 'Inference requests answered, by model and status (ok or an error code).');
  for (const p of pools) for (const r of p.metrics.requests) out.push(`tessera_requests_total${withPool(p, r.model, { status: r.status })} ${r.count}`);
  family('tessera_queue_depth', 'gauge', 'Requests waiting in the coordinator for a session.');
  for (const p of pools) for (const r of p.metrics.queueDepth) out.push(`tessera_queue_depth${withPool(p, r.model)} ${r.depth}`);
  family('tessera_in_flight', 'gauge', 'Requests sent to sessions and not yet answered.');
  for (const p of pools) for (const r of p.metrics.inFlight) out.push(`tessera_in_flight${withPool(p, r.model)} ${r.count}`);
  family('tessera_redispatched_total', 'counter', 'Requests re-sent to another session after a session failed.');
  if (pools.length === 1 && pools[0]!.pool === undefined) out.push(`tessera_redispatched_total ${pools[0]!.metrics.redispatched}`);
  else for (const p of pools) out.push(`tessera_redispatched_total${withPool(p, undefined)} ${p.metrics.redispatched}`);
  const histogram = (name: string, help: string, pick: (m: MetricsSnapshot) => MetricsSnapshot['latency']): void => {
    family(name, 'histogram', help);
    for (const p of pools) {
      for (const h of pick(p.metrics)) {
        for (const b of h.buckets) out.push(`${name}_bucket${withPool(p, h.model, { le: num(b.le) })} ${b.count}`);
        out.push(`${name}_bucket${withPool(p, h.model, { le: '+Inf' })} ${h.count}`);
        out.push(`${name}_sum${withPool(p, h.model)} ${num(h.sumSeconds)}`);
        out.push(`${name}_count${withPool(p, h.model)} ${h.count}`);
      }
    }
  };
  histogram('tessera_request_duration_seconds', 'Time from submit to a successful response.', (m) => m.latency);
  histogram('tessera_batch_compute_seconds', "Sessions' own time per batch, as they reported it.", (m) => m.compute);
  histogram('tessera_time_to_first_token_seconds', 'Text generation: time from submit to the first streamed chunk.', (m) => m.timeToFirstToken);
  family('tessera_generated_tokens_total', 'counter', 'Text generation: tokens generated, as the sessions counted them.');
  for (const p of pools) for (const r of p.metrics.generatedTokens) out.push(`tessera_generated_tokens_total${withPool(p, r.model)} ${r.count}`);
  return out.join('\n') + '\n';
}
