/**
 * Prewarming in `/metrics` (Prometheus text 0.0.4, appended to the pools'
 * exposition): events by model and type, the budget standby sessions
 * offered and the part prewarmed models take, and prewarmed sessions per
 * model.
 */
import type { PrewarmMetrics } from '../../src/coordinator/pool-summary.ts';

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * @example
 * const text = renderPrewarmPrometheus(snapshot.prewarmMetrics); // '# HELP tessera_prewarm_events_total ...'
 */
export function renderPrewarmPrometheus(m: PrewarmMetrics): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family('tessera_prewarm_events_total', 'counter', 'Prewarming steps by model and type (asked, progress, ready, failed, declined, unload).');
  for (const e of m.events) out.push(`tessera_prewarm_events_total{model="${escape(e.model)}",type="${escape(e.type)}"} ${e.count}`);
  family('tessera_prewarm_standby_sessions', 'gauge', 'Sessions offering to load models on request (standby sockets).');
  out.push(`tessera_prewarm_standby_sessions ${m.standbySessions}`);
  family('tessera_prewarm_budget_bytes', 'gauge', 'Model bytes standby sessions offered to load (state="offered") and the part prewarmed models take (state="used").');
  out.push(`tessera_prewarm_budget_bytes{state="offered"} ${m.budgetOfferedBytes}`, `tessera_prewarm_budget_bytes{state="used"} ${m.budgetUsedBytes}`);
  family('tessera_prewarm_sessions', 'gauge', 'Sessions that loaded a model on request and serve it now, by model.');
  for (const p of m.prewarmed) out.push(`tessera_prewarm_sessions{model="${escape(p.model)}"} ${p.sessions}`);
  return out.join('\n') + '\n';
}
