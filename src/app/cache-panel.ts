/**
 * The cache manager: models stored on this device (size, last use, delete),
 * persistence status, and the origin's quota used and free.
 */
import type { ModelCache } from '../cache/model-cache.ts';
import { byId, el } from './dom.ts';
import { formatAgo, formatBytes } from './format.ts';

/**
 * @example
 * const panel = cachePanel(cache); await panel.refresh();
 */
export function cachePanel(cache: ModelCache): { refresh(): Promise<void> } {
  const body = byId('cache-table').querySelector('tbody') as HTMLTableSectionElement;
  const empty = byId('cache-empty');
  const storage = byId('storage');

  async function refresh(): Promise<void> {
    const [models, estimate, browserEstimate] = await Promise.all([
      cache.listModels(),
      cache.estimate(),
      navigator.storage?.estimate?.() ?? Promise.resolve({ usage: undefined, quota: undefined }),
    ]);
    body.replaceChildren(
      ...models
        .sort((a, b) => b.lastUsed - a.lastUsed)
        .map((m) => {
          const remove = el('button', { type: 'button', className: 'danger', textContent: 'Delete' });
          remove.setAttribute('aria-label', `Delete ${m.name} (${m.revision.slice(0, 8)}) from this device`);
          remove.addEventListener('click', async () => {
            remove.disabled = true;
            await cache.deleteModel(m.name, m.revision);
            await refresh();
          });
          const name = el('td', {}, el('strong', { textContent: m.name }), ' ', el('code', { className: 'muted', textContent: m.revision.slice(0, 8) }));
          return el('tr', {}, name, el('td', { textContent: formatBytes(m.bytes) }), el('td', { textContent: formatAgo(m.lastUsed) }), el('td', {}, remove));
        }),
    );
    empty.hidden = models.length > 0;
    byId('cache-table').hidden = models.length === 0;

    const used = browserEstimate.usage ?? estimate.used;
    const quota = browserEstimate.quota ?? used + estimate.available;
    const meter = el('meter', { min: 0, max: quota, value: used });
    meter.setAttribute('aria-label', 'Storage used');
    const persist = el('button', { type: 'button', className: 'secondary', textContent: 'Keep models (persistent storage)' });
    persist.addEventListener('click', async () => {
      await cache.persist();
      await refresh();
    });
    storage.replaceChildren(
      el('p', {}, `${formatBytes(used)} used · ${formatBytes(Math.max(0, quota - used))} free of ${formatBytes(quota)}`),
      meter,
      estimate.persisted
        ? el('p', { className: 'muted', textContent: 'Storage is persistent: the browser will not evict these models under pressure.' })
        : el('p', { className: 'muted' }, 'Storage is best-effort: the browser may evict models when space runs low. ', persist),
    );
  }
  return { refresh };
}
