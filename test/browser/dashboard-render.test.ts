/**
 * The dashboard's tables and uPlot charts in real Chromium, fed a fixture
 * feed through the reducer (the same path as the page): prewarming rows with
 * their progress, a catalogue revision that differs from the served one, a
 * session serving two pools shown once, charts created per pool, fed, and
 * destroyed when their pool goes.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { DirectoryFeedEvent, PoolSummary } from '../../src/coordinator/pool-summary.ts';
import { initialDashboardState, reduceDashboard, type DashboardState } from '../../src/dashboard/dashboard-state.ts';
import { createPoolCharts } from '../../src/dashboard/pool-charts.ts';
import { renderCatalogue, renderPools, renderPrewarm, renderSessions } from '../../src/dashboard/render-tables.ts';

const table = (id: string, columns: number) =>
  `<table id="${id}"><thead><tr>${'<th scope="col">c</th>'.repeat(columns)}</tr></thead><tbody></tbody></table><p id="${id}-empty"></p>`;

function summary(pool: string, at: number, extra: Partial<PoolSummary> = {}): PoolSummary {
  return {
    pool, model: pool, at, sessions: [], queueDepth: 0, requestsPerSecond: 0, rateLimitedPerSecond: 0, deadlineMissesPerSecond: 0,
    queueWaitMs: 0,
    metrics: { sessions: 0, sessionsByModel: [], requests: [], queueDepth: [], inFlight: [], redispatched: 0, latency: [], compute: [], timeToFirstToken: [], generatedTokens: [] },
    ...extra,
  };
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

beforeEach(() => {
  document.body.innerHTML = table('pools', 11) + table('sessions', 6) + table('prewarm', 5) + table('catalogue', 4) + '<div id="charts" style="width: 900px"></div>';
});

describe('dashboard rendering', () => {
  it('draws pools, merged sessions, prewarming and the catalogue from a fixture feed', () => {
    const s1 = { id: 's1', device: 'webgpu', models: ['llm'], inFlight: 2, throughput: 3.5, leaseAgeMs: 65_000 };
    const events: DirectoryFeedEvent[] = [
      { type: 'snapshot', snapshot: { at: 1000, prewarm: [], pools: [summary('llm', 1000, { revision: 'aaaa0000', sessions: [s1] })] } },
      { type: 'pool', summary: summary('ocr', 1500, { revision: 'bbbb1111', queueDepth: 3, requestsPerSecond: 12.25, latencyP50Ms: 8.5, latencyP99Ms: 1500, sessions: [{ ...s1, models: ['ocr'], inFlight: 1 }], metrics: { ...summary('x', 0).metrics, requests: [{ model: 'ocr', status: 'ok', count: 40 }, { model: 'ocr', status: 'rate-limited', count: 2 }] } }) },
      { type: 'prewarm', event: { at: 2000, type: 'asked', sessionId: 's2', model: 'ocr', reason: 'queue wait 900 ms' } },
      { type: 'prewarm', event: { at: 2500, type: 'progress', sessionId: 's2', model: 'ocr', loadedBytes: 5 * 1024 * 1024, totalBytes: 20 * 1024 * 1024 } },
    ];
    const state = events.reduce<DashboardState>((s, e) => reduceDashboard(s, e), initialDashboardState());
    renderPools(byId('pools'), byId('pools-empty'), state);
    renderSessions(byId('sessions'), byId('sessions-empty'), state);
    renderPrewarm(byId('prewarm'), byId('prewarm-empty'), state.prewarm);
    renderCatalogue(byId('catalogue'), [{ name: 'llm', revision: 'aaaa0000', kind: 'text-generation' }, { name: 'ocr', revision: 'cccc2222', kind: 'ocr' }, { name: 'idle', revision: 'dddd3333' }], state);

    const cell = (row: string, field: string) => document.querySelector(`${row} td[data-field="${field}"]`)?.textContent;
    expect([...document.querySelectorAll('#pools tbody tr')].map((r) => (r as HTMLElement).dataset.pool)).toEqual(['llm', 'ocr']);
    expect(cell('#pools tr[data-pool="ocr"]', 'queue-depth')).toBe('3');
    expect(cell('#pools tr[data-pool="ocr"]', 'requests-per-second')).toBe('12.3/s');
    expect(cell('#pools tr[data-pool="ocr"]', 'requests-total')).toBe('42 (2 × 429)');
    expect(cell('#pools tr[data-pool="ocr"]', 'latency-p99')).toBe('1.50 s');
    expect(byId('pools-empty').hidden).toBe(true);
    // One session in two pools: one row, both models, its work added up.
    expect(document.querySelectorAll('#sessions tbody tr')).toHaveLength(1);
    expect(cell('#sessions tr[data-session="s1"]', 'models')).toBe('llm, ocr');
    expect(cell('#sessions tr[data-session="s1"]', 'in-flight')).toBe('3');
    expect(cell('#sessions tr[data-session="s1"]', 'lease-age')).toBe('1 min 5 s');
    // Newest first, with the load's progress.
    expect([...document.querySelectorAll('#prewarm tbody td[data-field="type"]')].map((c) => c.textContent)).toEqual(['progress', 'asked']);
    expect(document.querySelector('#prewarm tbody td[data-field="detail"]')?.textContent).toBe('5.0 MiB of 20.0 MiB (25%)');
    // A pool serving a revision that is not the current one is marked; an idle model says so.
    expect(cell('#catalogue tr[data-model="llm"]', 'served-revision')).toBe('aaaa0000');
    expect(cell('#catalogue tr[data-model="ocr"]', 'served-revision')).toBe('bbbb1111 (not current)');
    expect(document.querySelector('#catalogue tr[data-model="ocr"] td[data-field="served-revision"]')?.className).toBe('mismatch');
    expect(cell('#catalogue tr[data-model="idle"]', 'served-revision')).toBe('not served');
    // Row headers name each row for screen readers.
    expect(document.querySelector('#pools tbody tr th')?.getAttribute('scope')).toBe('row');
  });

  it('an empty state shows the empty notes instead of tables', () => {
    const state = reduceDashboard(initialDashboardState(), { type: 'snapshot', snapshot: { at: 0, pools: [], prewarm: [] } });
    renderPools(byId('pools'), byId('pools-empty'), state);
    renderPrewarm(byId('prewarm'), byId('prewarm-empty'), state.prewarm);
    expect(byId('pools').hidden).toBe(true);
    expect(byId('pools-empty').hidden).toBe(false);
    expect(byId('prewarm').hidden).toBe(true);
  });

  it('draws a pool\'s uPlot charts on canvas with the latest values as their text, and removes them', async () => {
    let state = initialDashboardState();
    for (let i = 1; i <= 10; i++) state = reduceDashboard(state, { type: 'pool', summary: summary('llm', i * 1000, { requestsPerSecond: i, rateLimitedPerSecond: i > 8 ? 1 : 0, latencyP50Ms: 20 + i, latencyP99Ms: 90, ttftP50Ms: 40 }) });
    const charts = createPoolCharts('llm');
    byId('charts').append(charts.element);
    charts.update(state.pools.llm!.points);
    const figures = charts.element.querySelectorAll('figure');
    expect(figures).toHaveLength(2);
    expect(charts.element.querySelectorAll('canvas')).toHaveLength(2);
    expect(figures[0]!.querySelector('figcaption')?.textContent).toBe('Throughput (per second), latest: Requests/s 10.0/s, 429s/s 1.0/s');
    expect(figures[1]!.querySelector('figcaption')?.textContent).toBe('Latency (ms), latest: p50 30 ms, p99 90 ms, TTFT p50 40 ms');
    // The figure is labelled by its caption; the canvas is hidden from assistive technology.
    expect(figures[0]!.getAttribute('aria-labelledby')).toBe(figures[0]!.querySelector('figcaption')?.id);
    expect(figures[0]!.querySelector('.plot')?.getAttribute('aria-hidden')).toBe('true');
    // Something was drawn (uPlot draws on its next microtask or frame): the canvas is not blank.
    const canvas = figures[0]!.querySelector('canvas')!;
    const inked = () => canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data.some((v, i) => i % 4 === 3 && v > 0);
    await expect.poll(inked).toBe(true);
    charts.destroy();
    expect(byId('charts').children).toHaveLength(0);
  });
});
