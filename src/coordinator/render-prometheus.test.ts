import { describe, expect, it } from 'vitest';
import { Coordinator } from './coordinator.ts';
import { renderPoolsPrometheus, renderPrometheus } from './render-prometheus.ts';

const metricsOf = (model: string, answered: number) => {
  const c = new Coordinator({ config: { maxDelayMs: 0 }, createId: () => `s-${model}` });
  c.join({ type: 'join', token: 't', device: 'x', models: [{ name: model, revision: '1', maxBatch: 1 }], capacity: { maxInFlight: 1, requestsPerSecond: 10 } }, 0);
  for (let i = 0; i < answered; i++) {
    c.submit({ id: `${model}-${i}`, model, inputs: { x: { type: 'float32', dims: [1], data: new Float32Array(1) } } }, i);
    c.handle(`s-${model}`, { type: 'result', requestIds: [`${model}-${i}`], outputs: { y: { type: 'float32', dims: [1], data: new Float32Array(1) } } }, i + 1);
  }
  return c.metrics();
};

describe('renderPoolsPrometheus', () => {
  it('labels every series by model and pool, once per family, and counts distinct sessions', () => {
    const text = renderPoolsPrometheus({ sessions: 3, pools: [{ pool: 'a', metrics: metricsOf('a', 2) }, { pool: 'b "x"', metrics: metricsOf('b "x"', 1) }] });
    expect(text).toContain('tessera_sessions 3\n');
    expect(text).toContain('tessera_pools 2\n');
    expect(text).toContain('tessera_requests_total{model="a",pool="a",status="ok"} 2\n');
    expect(text).toContain('tessera_requests_total{model="b \\"x\\"",pool="b \\"x\\"",status="ok"} 1\n');
    expect(text).toContain('tessera_redispatched_total{pool="a"} 0\n');
    expect(text).toContain('tessera_request_duration_seconds_bucket{model="a",pool="a",le="+Inf"} 2\n');
    expect(text).toContain('tessera_request_duration_seconds_count{model="b \\"x\\"",pool="b \\"x\\""} 1\n');
    for (const family of ['tessera_requests_total', 'tessera_queue_depth', 'tessera_request_duration_seconds']) {
      expect(text.split('\n').filter((l) => l === `# TYPE ${family} ${family.endsWith('seconds') ? 'histogram' : family.endsWith('total') ? 'counter' : 'gauge'}`)).toHaveLength(1);
    }
  });

  it('renders a lone coordinator without pool labels, as before', () => {
    const text = renderPrometheus(metricsOf('m', 1));
    expect(text).toContain('tessera_requests_total{model="m",status="ok"} 1\n');
    expect(text).toContain('tessera_redispatched_total 0\n');
    expect(text).not.toContain('pool=');
    expect(text).not.toContain('tessera_pools');
  });
});
