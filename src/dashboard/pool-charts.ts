/**
 * Two uPlot charts per pool (requests/s with 429s/s; latency p50/p99 with
 * time to first token), built once when the pool appears and fed with one
 * `setData` per pushed summary: canvas only, no DOM re-render per point.
 *
 * Each chart sits in a `<figure>` whose caption carries the latest values
 * as text: the chart's text alternative (the canvas itself is hidden from
 * assistive technology; uPlot's own legend is off, the caption replaces it).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { PoolPoint } from './dashboard-state.ts';
import { formatMs, formatRate } from './format.ts';

/** Series colours: each has at least 4.5:1 contrast on white. */
export const SERIES_COLOURS = { blue: '#2457d6', red: '#b42318', green: '#1a7f37', purple: '#6b21a8' } as const;

interface ChartSpec {
  title: string;
  series: { label: string; stroke: string; value(p: PoolPoint): number | null; format(v: number | null): string }[];
  unit: string;
}

const CHARTS: ChartSpec[] = [
  {
    title: 'Throughput',
    unit: 'per second',
    series: [
      { label: 'Requests/s', stroke: SERIES_COLOURS.blue, value: (p) => p.requestsPerSecond, format: (v) => formatRate(v ?? 0) },
      { label: '429s/s', stroke: SERIES_COLOURS.red, value: (p) => p.rateLimitedPerSecond, format: (v) => formatRate(v ?? 0) },
    ],
  },
  {
    title: 'Latency',
    unit: 'ms',
    series: [
      { label: 'p50', stroke: SERIES_COLOURS.blue, value: (p) => p.latencyP50Ms, format: formatMs },
      { label: 'p99', stroke: SERIES_COLOURS.red, value: (p) => p.latencyP99Ms, format: formatMs },
      { label: 'TTFT p50', stroke: SERIES_COLOURS.purple, value: (p) => p.ttftP50Ms, format: formatMs },
    ],
  },
];

export interface PoolCharts {
  /** The pool's chart panel (an `<article>`), to insert into the page. */
  readonly element: HTMLElement;
  update(points: readonly PoolPoint[]): void;
  destroy(): void;
}

/**
 * @example
 * const charts = createPoolCharts('mlp', document);
 * container.append(charts.element);
 * charts.update(state.pools.mlp.points);
 */
export function createPoolCharts(pool: string, doc: Document = document): PoolCharts {
  const slug = pool.replace(/[^A-Za-z0-9_-]/g, '_');
  const article = doc.createElement('article');
  article.className = 'pool-charts';
  article.dataset.pool = pool;
  const heading = doc.createElement('h3');
  heading.id = `charts-${slug}`;
  heading.textContent = pool;
  article.setAttribute('aria-labelledby', heading.id);
  article.append(heading);

  const charts = CHARTS.map((spec, i) => {
    const figure = doc.createElement('figure');
    figure.className = 'chart';
    const caption = doc.createElement('figcaption');
    caption.id = `chart-${slug}-${i}`;
    caption.dataset.chart = spec.title.toLowerCase();
    figure.setAttribute('aria-labelledby', caption.id);
    const plotBox = doc.createElement('div');
    plotBox.className = 'plot';
    plotBox.setAttribute('aria-hidden', 'true');
    figure.append(caption, plotBox);
    article.append(figure);
    return { spec, caption, plotBox, plot: undefined as uPlot | undefined };
  });

  const options = (spec: ChartSpec, width: number): uPlot.Options => ({
    width,
    height: 160,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [
      { stroke: '#4b5565', grid: { stroke: '#e5e8ee' } },
      { stroke: '#4b5565', grid: { stroke: '#e5e8ee' }, size: 56 },
    ],
    series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, points: { show: false } }))],
  });

  let last: readonly PoolPoint[] = [];
  const render = () => {
    const xs = last.map((p) => p.at / 1000);
    for (const chart of charts) {
      const data: uPlot.AlignedData = [xs, ...chart.spec.series.map((s) => last.map((p) => s.value(p)))];
      const width = Math.max(240, Math.floor(chart.plotBox.clientWidth || 320));
      if (chart.plot === undefined) chart.plot = new uPlot(options(chart.spec, width), data, chart.plotBox);
      else chart.plot.setData(data);
      const latest = last[last.length - 1];
      // The caption is the legend too: a swatch of each line's colour before its latest value.
      chart.caption.replaceChildren(
        `${chart.spec.title} (${chart.spec.unit}), latest: `,
        ...chart.spec.series.flatMap((s, i) => {
          const swatch = doc.createElement('span');
          swatch.className = 'swatch';
          swatch.style.background = s.stroke;
          swatch.setAttribute('aria-hidden', 'true');
          return [...(i > 0 ? [', '] : []), swatch, `${s.label} ${latest === undefined ? '–' : s.format(s.value(latest))}`];
        }),
      );
    }
  };

  // Charts follow their box's width (the grid reflows with the window).
  const resize = new ResizeObserver(() => {
    for (const chart of charts) {
      const width = Math.floor(chart.plotBox.clientWidth);
      if (chart.plot !== undefined && width > 0 && Math.abs(chart.plot.width - width) > 4) chart.plot.setSize({ width, height: 160 });
    }
  });
  for (const chart of charts) resize.observe(chart.plotBox);

  return {
    element: article,
    update(points) {
      last = points;
      article.dataset.points = String(points.length);
      render();
    },
    destroy() {
      resize.disconnect();
      for (const chart of charts) chart.plot?.destroy();
      article.remove();
    },
  };
}
