/**
 * The directory Durable Object: one object (`idFromName('directory')`) that
 * keeps the latest {@link PoolSummary} of every coordinator pool, so that
 * `/v1/models`, `/v2/health/ready`, the OIP metadata routes and `/metrics`
 * ask one object and no request path fans out to every pool.
 *
 * Why it never sees inference traffic: pools push their summary here
 * (`report`) when sessions join, leave or change models, and at most about
 * once a second while requests flow, always off the request's path
 * (`ctx.waitUntil`, errors logged). A directory that relayed requests would
 * be the single-object ceiling again; one that receives a summary a second
 * per pool has room for thousands of pools.
 *
 * Storage: each pool's latest summary under `pool:<name>`, and the prewarm
 * ring under `prewarm`, so a restart (eviction, deploy) loses at most what
 * arrived while it was restarting; pools re-report on their next change.
 *
 * Readers: `snapshot()` (RPC), and `feed()`, an NDJSON stream of
 * {@link DirectoryFeedEvent}s (a `snapshot` first, then `pool`, `pool-gone`
 * and `prewarm` events as they arrive) that the dashboard relays as SSE.
 *
 * Extending: `fetch()` routes by path through {@link DirectoryObject.routes};
 * the prewarming code (worker/lib/prewarm-*.ts) adds its standby sockets
 * there and in the WebSocket handlers, keyed by the socket's attachment.
 */
import { DurableObject } from 'cloudflare:workers';
import type { DirectoryFeedEvent, DirectorySnapshot, PoolSummary, PrewarmEvent } from '../src/coordinator/pool-summary.ts';
import { errorResponse } from './http-error.ts';

/** How many prewarm events the directory keeps (and sends in a snapshot). */
export const PREWARM_RING = 200;

/** Events a feed may have unread before the directory ends it. */
const FEED_BACKLOG = 1_000;

const POOL_PREFIX = 'pool:';
const PREWARM_KEY = 'prewarm';

/** What a directory route handles: the request, with the object's state at hand. */
export type DirectoryRoute = (request: Request, directory: DirectoryObject) => Promise<Response> | Response;

export class DirectoryObject extends DurableObject {
  readonly #pools = new Map<string, PoolSummary>();
  #prewarm: PrewarmEvent[] = [];
  readonly #feeds = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #encoder = new TextEncoder();
  #loaded: Promise<void> | undefined;

  /**
   * Path -> handler for `fetch()`. Empty today: prewarming adds its standby
   * socket route here (e.g. `/prewarm/standby`), so the directory's own code
   * does not change when it does.
   */
  readonly routes = new Map<string, DirectoryRoute>();

  /** Storage is read once per activation, before the first call is answered. */
  #load(): Promise<void> {
    this.#loaded ??= this.ctx.blockConcurrencyWhile(async () => {
      const stored = await this.ctx.storage.list<PoolSummary>({ prefix: POOL_PREFIX });
      for (const [key, summary] of stored) this.#pools.set(key.slice(POOL_PREFIX.length), summary);
      this.#prewarm = (await this.ctx.storage.get<PrewarmEvent[]>(PREWARM_KEY)) ?? [];
    });
    return this.#loaded;
  }

  /**
   * RPC from a pool: its latest state. A summary with no sessions and nothing
   * queued means the pool went quiet: it is dropped (`pool-gone`), and its
   * counters leave `/metrics` with it (Prometheus treats that as a reset).
   * A summary older than the one held (reordered RPCs) is ignored.
   */
  async report(summary: PoolSummary): Promise<void> {
    await this.#load();
    const held = this.#pools.get(summary.pool);
    if (held && held.at > summary.at) return;
    if (summary.sessions.length === 0 && summary.queueDepth === 0) {
      if (!held) return;
      this.#pools.delete(summary.pool);
      await this.ctx.storage.delete(POOL_PREFIX + summary.pool);
      this.#broadcast({ type: 'pool-gone', pool: summary.pool, at: summary.at });
      return;
    }
    this.#pools.set(summary.pool, summary);
    await this.ctx.storage.put(POOL_PREFIX + summary.pool, summary);
    this.#broadcast({ type: 'pool', summary });
  }

  /** RPC: every pool's latest summary (sorted by pool name) and the prewarm ring. */
  async snapshot(): Promise<DirectorySnapshot> {
    await this.#load();
    return this.#snapshotNow();
  }

  /**
   * RPC from prewarming: one step of a prewarm, kept in a ring of the last
   * {@link PREWARM_RING} and sent on every feed.
   */
  async recordPrewarm(event: PrewarmEvent): Promise<void> {
    await this.#load();
    this.#prewarm.push(event);
    if (this.#prewarm.length > PREWARM_RING) this.#prewarm.splice(0, this.#prewarm.length - PREWARM_RING);
    await this.ctx.storage.put(PREWARM_KEY, this.#prewarm);
    this.#broadcast({ type: 'prewarm', event });
  }

  /**
   * RPC: a live feed, one JSON {@link DirectoryFeedEvent} per line: the
   * snapshot first, then every change as it arrives. Cancelling the stream
   * (the dashboard's client left) unsubscribes it.
   */
  async feed(): Promise<ReadableStream<Uint8Array>> {
    await this.#load();
    let self: ReadableStreamDefaultController<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.#feeds.add(controller);
        controller.enqueue(this.#line({ type: 'snapshot', snapshot: this.#snapshotNow() }));
      },
      cancel: () => {
        if (self) this.#feeds.delete(self);
      },
    });
  }

  /** HTTP into the directory: routed by path (see {@link routes}); nothing is served by default. */
  override async fetch(request: Request): Promise<Response> {
    const route = this.routes.get(new URL(request.url).pathname);
    if (route) return route(request, this);
    return errorResponse(404, 'not-found', `the directory has no route ${new URL(request.url).pathname}`);
  }

  #snapshotNow(): DirectorySnapshot {
    const pools = [...this.#pools.values()].sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0));
    return { at: Date.now(), pools, prewarm: [...this.#prewarm] };
  }

  #line(event: DirectoryFeedEvent): Uint8Array {
    return this.#encoder.encode(JSON.stringify(event) + '\n');
  }

  #broadcast(event: DirectoryFeedEvent): void {
    if (this.#feeds.size === 0) return;
    const line = this.#line(event);
    for (const controller of this.#feeds) {
      try {
        // A reader this far behind (a stalled dashboard) would hold an ever-growing buffer: end its feed; it reconnects and starts from a snapshot.
        if ((controller.desiredSize ?? 0) < -FEED_BACKLOG) {
          this.#feeds.delete(controller);
          controller.error(new Error('directory feed reader fell behind; reconnect'));
          continue;
        }
        controller.enqueue(line);
      } catch {
        // A reader gone without cancelling: forget it.
        this.#feeds.delete(controller);
      }
    }
  }
}
