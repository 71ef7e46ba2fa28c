/**
 * The dashboard page: asks for a token (kept in sessionStorage), follows the
 * Worker's `/dashboard/events` feed, folds each event into the state with
 * the pure reducer, and redraws at most once per animation frame (tables
 * replaced, charts fed with setData). The catalogue (`GET /models`) is read
 * when the page starts and again when a pool reports a revision the page has
 * not seen: pushed, not polled.
 */
import { initialDashboardState, poolsOf, reduceDashboard, servedRevisions, type DashboardState } from './dashboard-state.ts';
import { followFeed, type FeedStatus } from './feed-client.ts';
import { createPoolCharts, type PoolCharts } from './pool-charts.ts';
import { renderCatalogue, renderPools, renderPrewarm, renderSessions, type CatalogueEntry } from './render-tables.ts';
import { forgetToken, readToken, saveToken } from './token-store.ts';

const FEED_URL = '/dashboard/events';

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`dashboard/index.html has no #${id}`);
  return element as T;
}

const ui = {
  status: byId('feed-status'),
  signOut: byId<HTMLButtonElement>('sign-out'),
  signIn: byId('sign-in'),
  signInForm: byId<HTMLFormElement>('sign-in-form'),
  tokenInput: byId<HTMLInputElement>('token-input'),
  signInError: byId('sign-in-error'),
  live: byId('live'),
  poolsTable: byId<HTMLTableElement>('pools-table'),
  poolsEmpty: byId('pools-empty'),
  charts: byId('pool-charts'),
  sessionsTable: byId<HTMLTableElement>('sessions-table'),
  sessionsEmpty: byId('sessions-empty'),
  prewarmTable: byId<HTMLTableElement>('prewarm-table'),
  prewarmEmpty: byId('prewarm-empty'),
  catalogueTable: byId<HTMLTableElement>('catalogue-table'),
  catalogueStatus: byId('catalogue-status'),
};

let state: DashboardState = initialDashboardState();
let catalogue: CatalogueEntry[] = [];
let knownRevisions = new Set<string>();
const charts = new Map<string, PoolCharts>();
let frame: number | undefined;
let connection: AbortController | undefined;

function draw(): void {
  frame = undefined;
  renderPools(ui.poolsTable, ui.poolsEmpty, state);
  renderSessions(ui.sessionsTable, ui.sessionsEmpty, state, Date.now());
  renderPrewarm(ui.prewarmTable, ui.prewarmEmpty, state.prewarm);
  renderCatalogue(ui.catalogueTable, catalogue, state);
  const pools = poolsOf(state);
  for (const [name, chart] of charts) {
    if (!(name in state.pools)) {
      chart.destroy();
      charts.delete(name);
    }
  }
  for (const view of pools) {
    let chart = charts.get(view.summary.pool);
    if (chart === undefined) {
      chart = createPoolCharts(view.summary.pool);
      charts.set(view.summary.pool, chart);
      ui.charts.append(chart.element);
    }
    chart.update(view.points);
  }
}

function scheduleDraw(): void {
  frame ??= requestAnimationFrame(draw);
}

async function loadCatalogue(): Promise<void> {
  try {
    const res = await fetch('/models', { cache: 'no-store' });
    if (!res.ok) throw new Error(`GET /models answered ${res.status}`);
    catalogue = ((await res.json()) as { models: CatalogueEntry[] }).models;
    ui.catalogueStatus.textContent = catalogue.length === 0 ? 'No model is published.' : '';
  } catch (error) {
    ui.catalogueStatus.textContent = `The catalogue could not be read: ${error instanceof Error ? error.message : String(error)}`;
  }
  scheduleDraw();
}

function showStatus(status: FeedStatus): void {
  ui.status.classList.remove('live', 'retrying', 'refused');
  switch (status.type) {
    case 'connecting':
      ui.status.textContent = status.attempt === 1 ? 'Connecting…' : `Reconnecting (attempt ${status.attempt})…`;
      return;
    case 'live':
      ui.status.textContent = 'Live';
      ui.status.classList.add('live');
      return;
    case 'retrying':
      ui.status.textContent = `Connection lost (${status.reason}); retrying in ${Math.ceil(status.inMs / 1000)} s`;
      ui.status.classList.add('retrying');
      return;
    case 'unauthorized':
      ui.status.textContent = 'Token refused';
      ui.status.classList.add('refused');
      forgetToken();
      showSignIn('That token was refused. Enter the admin token or an API key with the dashboard scope.');
      return;
    case 'stopped':
      ui.status.textContent = 'Not connected';
      return;
    default: {
      const unknown: never = status;
      void unknown;
    }
  }
}

function showSignIn(error = ''): void {
  connection?.abort();
  connection = undefined;
  ui.live.hidden = true;
  ui.signOut.hidden = true;
  ui.signIn.hidden = false;
  ui.signInError.textContent = error;
  ui.tokenInput.value = '';
  ui.tokenInput.focus();
}

function connect(token: string): void {
  connection?.abort();
  connection = new AbortController();
  ui.signIn.hidden = true;
  ui.live.hidden = false;
  ui.signOut.hidden = false;
  void followFeed({
    url: FEED_URL,
    token,
    signal: connection.signal,
    onStatus: showStatus,
    onEvent(event) {
      state = reduceDashboard(state, event);
      // A revision the catalogue has not shown yet: a publish or a hot swap happened.
      const revisions = new Set(servedRevisions(state).values());
      if ([...revisions].some((r) => !knownRevisions.has(r))) void loadCatalogue();
      knownRevisions = revisions;
      scheduleDraw();
    },
  });
}

ui.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.tokenInput.value.trim();
  if (token === '') return;
  saveToken(token);
  ui.tokenInput.value = '';
  connect(token);
});

ui.signOut.addEventListener('click', () => {
  forgetToken();
  showStatus({ type: 'stopped' });
  showSignIn();
});

// Lease ages keep counting between pushes (an idle pool sends nothing): a local redraw, no request.
setInterval(() => {
  if (!ui.live.hidden) renderSessions(ui.sessionsTable, ui.sessionsEmpty, state, Date.now());
}, 1000);

void loadCatalogue();
const saved = readToken();
if (saved === undefined) showSignIn();
else connect(saved);
