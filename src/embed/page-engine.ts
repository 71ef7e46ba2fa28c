/**
 * The engine a page should use for a model on a given host: a dedicated Web
 * Worker when the host is this page's origin (the app: the page stays
 * responsive while the model runs), in-process otherwise (embed.js on
 * another origin: a page may not start a Worker from a script of our origin).
 */
import type { Engine } from '../engine/engine.ts';
import { createEngine } from '../transport/create-engine.ts';
import { createInProcessEngine } from '../engine/in-process-engine.ts';

/**
 * @example
 * const engine = await pageEngine('https://t.example/models/x/manifest.json');
 * engine.transport; // 'worker' on t.example's own pages, 'in-process' elsewhere
 */
export async function pageEngine(manifestUrl: string, customFetch?: typeof globalThis.fetch): Promise<Engine> {
  return sameOriginAsPage(manifestUrl) && customFetch === undefined && typeof Worker === 'function'
    ? createEngine({ transport: 'worker' })
    : // A custom fetch cannot be handed to a worker either: keep such loads in-process.
      createInProcessEngine();
}

/** Whether `url` is on this page's origin (false outside a page). */
export function sameOriginAsPage(url: string): boolean {
  const here = typeof location === 'undefined' ? undefined : location.href;
  return here !== undefined && new URL(url, here).origin === new URL(here).origin;
}
