import { describe, expect, it } from 'vitest';
import { renderPrewarmPrometheus } from './prewarm-metrics.ts';

describe('renderPrewarmPrometheus', () => {
  it('renders events by model and type, the budget and prewarmed sessions, escaping labels', () => {
    const text = renderPrewarmPrometheus({
      standbySessions: 2, budgetOfferedBytes: 300, budgetUsedBytes: 120,
      events: [{ model: 'mlp', type: 'asked', count: 3 }, { model: 'a"b', type: 'ready', count: 1 }],
      prewarmed: [{ model: 'mlp', sessions: 1 }],
    });
    expect(text).toContain('# TYPE tessera_prewarm_events_total counter\n');
    expect(text).toContain('tessera_prewarm_events_total{model="mlp",type="asked"} 3\n');
    expect(text).toContain('tessera_prewarm_events_total{model="a\\"b",type="ready"} 1\n');
    expect(text).toContain('tessera_prewarm_standby_sessions 2\n');
    expect(text).toContain('tessera_prewarm_budget_bytes{state="offered"} 300\ntessera_prewarm_budget_bytes{state="used"} 120\n');
    expect(text).toContain('tessera_prewarm_sessions{model="mlp"} 1\n');
    expect(text.endsWith('\n')).toBe(true);
  });
});
