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
 * @example
 * return new Response(renderPrometheus(coordinator.metrics()), { headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } });
 */
export function renderPrometheus(s: MetricsSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family('tessera_sessions', 'gauge', 'Client sessions connected to the coordinator.');
  out.push(`tessera_sessions ${s.sessions}`);
  family('tessera_model_sessions', 'gauge', 'Connected sessions with the model warm.');
  for (const r of s.sessionsByModel) out.push(`tessera_model_sessions${labels({ model: r.model })} ${r.count}`);
  family('tessera_requests_total', 'counter', 'Inference requests answered, by model and status (ok or an error code).');
  for (const r of s.requests) out.push(`tessera_requests_total${labels({ model: r.model, status: r.status })} ${r.count}`);
  family('tessera_queue_depth', 'gauge', 'Requests waiting in the coordinator for a session.');
  for (const r of s.queueDepth) out.push(`tessera_queue_depth${labels({ model: r.model })} ${r.depth}`);
  family('tessera_in_flight', 'gauge', 'Requests sent to sessions and not yet answered.');
  for (const r of s.inFlight) out.push(`tessera_in_flight${labels({ model: r.model })} ${r.count}`);
  family('tessera_redispatched_total', 'counter', 'Requests re-sent to another session after a session failed.');
  out.push(`tessera_redispatched_total ${s.redispatched}`);
  const histogram = (name: string, help: string, hs: MetricsSnapshot['latency']): void => {
    family(name, 'histogram', help);
    for (const h of hs) {
      for (const b of h.buckets) out.push(`${name}_bucket${labels({ model: h.model, le: num(b.le) })} ${b.count}`);
      out.push(`${name}_bucket${labels({ model: h.model, le: '+Inf' })} ${h.count}`);
      out.push(`${name}_sum${labels({ model: h.model })} ${num(h.sumSeconds)}`);
      out.push(`${name}_count${labels({ model: h.model })} ${h.count}`);
    }
  };
  histogram('tessera_request_duration_seconds', 'Time from submit to a successful response.', s.latency);
  histogram('tessera_batch_compute_seconds', "Sessions' own time per batch, as they reported it.", s.compute);
  histogram('tessera_time_to_first_token_seconds', 'Text generation: time from submit to the first streamed chunk.', s.timeToFirstToken);
  family('tessera_generated_tokens_total', 'counter', 'Text generation: tokens generated, as the sessions counted them.');
  for (const r of s.generatedTokens) out.push(`tessera_generated_tokens_total${labels({ model: r.model })} ${r.count}`);
  return out.join('\n') + '\n';
}
