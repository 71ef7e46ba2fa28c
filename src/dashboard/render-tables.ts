/**
 * The dashboard's tables, drawn from a DashboardState (and the catalogue).
 * Each call replaces a table's rows: a few dozen rows at most, redrawn at
 * most once per animation frame by main.ts, so keeping rows keyed would buy
 * nothing. Cells that tests and people look for carry `data-field`.
 */
import type { PrewarmEvent } from '../coordinator/pool-summary.ts';
import { poolsOf, rateLimitedTotalOf, requestsTotalOf, servedRevisions, sessionsOf, type DashboardState } from './dashboard-state.ts';
import { formatAge, formatBytes, formatMs, formatRate, formatTime } from './format.ts';

/** One model of `GET /models`. */
export interface CatalogueEntry {
  name: string;
  revision: string;
  kind?: string;
}

function cell(doc: Document, text: string, field?: string, className?: string): HTMLTableCellElement {
  const td = doc.createElement('td');
  td.textContent = text;
  if (field !== undefined) td.dataset.field = field;
  if (className !== undefined) td.className = className;
  return td;
}

function headerCell(doc: Document, text: string): HTMLTableCellElement {
  const th = doc.createElement('th');
  th.scope = 'row';
  th.textContent = text;
  return th;
}

function fill(table: HTMLTableElement, rows: HTMLTableRowElement[], empty: HTMLElement | null): void {
  table.tBodies[0]!.replaceChildren(...rows);
  table.hidden = rows.length === 0;
  if (empty !== null) empty.hidden = rows.length > 0;
}

/** @example renderPools(table, empty, state); */
export function renderPools(table: HTMLTableElement, empty: HTMLElement | null, state: DashboardState): void {
  const doc = table.ownerDocument;
  fill(table, poolsOf(state).map(({ summary: s }) => {
    const tr = doc.createElement('tr');
    tr.dataset.pool = s.pool;
    const rateLimited = rateLimitedTotalOf(s);
    tr.append(
      headerCell(doc, s.pool === s.model ? s.pool : `${s.pool} (${s.model})`),
      cell(doc, s.revision ?? '–', 'revision'),
      cell(doc, String(s.sessions.length), 'sessions', 'num'),
      cell(doc, String(s.queueDepth), 'queue-depth', 'num'),
      cell(doc, formatRate(s.requestsPerSecond), 'requests-per-second', 'num'),
      cell(doc, formatRate(s.rateLimitedPerSecond), 'rate-limited-per-second', 'num'),
      cell(doc, `${requestsTotalOf(s)}${rateLimited > 0 ? ` (${rateLimited} × 429)` : ''}`, 'requests-total', 'num'),
      cell(doc, formatMs(s.latencyP50Ms), 'latency-p50', 'num'),
      cell(doc, formatMs(s.latencyP99Ms), 'latency-p99', 'num'),
      cell(doc, formatMs(s.ttftP50Ms), 'ttft-p50', 'num'),
      cell(doc, formatTime(s.at), 'updated'),
    );
    return tr;
  }), empty);
}

/** @example renderSessions(table, empty, state, Date.now()); */
export function renderSessions(table: HTMLTableElement, empty: HTMLElement | null, state: DashboardState, now?: number): void {
  const doc = table.ownerDocument;
  fill(table, sessionsOf(state, now).map((s) => {
    const tr = doc.createElement('tr');
    tr.dataset.session = s.id;
    tr.append(
      headerCell(doc, s.id),
      cell(doc, s.device, 'device'),
      cell(doc, `${s.models.join(', ')}${s.prewarmed ? ' (prewarmed)' : ''}`, 'models'),
      cell(doc, String(s.inFlight), 'in-flight', 'num'),
      cell(doc, formatRate(s.throughput), 'throughput', 'num'),
      cell(doc, formatAge(s.leaseAgeMs), 'lease-age', 'num'),
    );
    return tr;
  }), empty);
}

function prewarmDetail(e: PrewarmEvent): string {
  switch (e.type) {
    case 'progress':
      return e.loadedBytes !== undefined && e.totalBytes !== undefined
        ? `${formatBytes(e.loadedBytes)} of ${formatBytes(e.totalBytes)} (${e.totalBytes > 0 ? Math.round((100 * e.loadedBytes) / e.totalBytes) : 100}%)`
        : (e.reason ?? '');
    case 'asked':
    case 'ready':
    case 'failed':
    case 'unload':
    case 'declined':
      return e.reason ?? '';
    default: {
      const unknown: never = e.type;
      return String(unknown);
    }
  }
}

/** @example renderPrewarm(table, empty, state.prewarm); */
export function renderPrewarm(table: HTMLTableElement, empty: HTMLElement | null, events: readonly PrewarmEvent[]): void {
  const doc = table.ownerDocument;
  fill(table, events.map((e) => {
    const tr = doc.createElement('tr');
    tr.append(headerCell(doc, formatTime(e.at)), cell(doc, e.type, 'type'), cell(doc, e.model, 'model'), cell(doc, e.sessionId, 'session'), cell(doc, prewarmDetail(e), 'detail'));
    return tr;
  }), empty);
}

/**
 * The catalogue beside what the pools serve: a served revision that is not
 * the current one (a hot swap under way) is marked.
 *
 * @example renderCatalogue(table, models, state);
 */
export function renderCatalogue(table: HTMLTableElement, models: readonly CatalogueEntry[], state: DashboardState): void {
  const doc = table.ownerDocument;
  const served = servedRevisions(state);
  fill(table, models.map((m) => {
    const tr = doc.createElement('tr');
    tr.dataset.model = m.name;
    const servedRevision = served.get(m.name);
    const mismatch = servedRevision !== undefined && servedRevision !== m.revision;
    tr.append(
      headerCell(doc, m.name),
      cell(doc, m.kind ?? '–', 'kind'),
      cell(doc, m.revision, 'revision'),
      cell(doc, servedRevision === undefined ? 'not served' : `${servedRevision}${mismatch ? ' (not current)' : ''}`, 'served-revision', mismatch ? 'mismatch' : undefined),
    );
    return tr;
  }), null);
}
