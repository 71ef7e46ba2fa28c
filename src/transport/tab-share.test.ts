/**
 * Tab sharing with fakes for what the browser provides: a LockManager that
 * grants one holder per name in request order (and drops a waiter whose
 * signal aborts), and a BroadcastChannel bus that delivers a structured clone
 * of each message to every other channel of the same name, later (as the
 * browser does).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TesseraError } from '../errors.ts';
import { shareAcrossTabs, type TabHandler, type TabShare } from './tab-share.ts';

class FakeLocks {
  readonly #queues = new Map<string, Array<() => void>>();
  readonly #held = new Set<string>();

  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const run = () => {
        this.#held.add(name);
        void callback()
          .then(resolve, reject)
          .finally(() => {
            this.#held.delete(name);
            this.#queues.get(name)?.shift()?.();
          });
      };
      if (!this.#held.has(name)) return run();
      const queue = this.#queues.get(name) ?? [];
      this.#queues.set(name, queue);
      queue.push(run);
      options.signal?.addEventListener('abort', () => {
        const i = queue.indexOf(run);
        if (i >= 0) queue.splice(i, 1);
        reject(new DOMException('aborted while waiting', 'AbortError'));
      });
    });
  }
}

function fakeBroadcastChannel(): typeof BroadcastChannel {
  const channels = new Map<string, Set<FakeChannel>>();
  class FakeChannel {
    onmessage: ((event: MessageEvent) => void) | null = null;
    readonly name: string;
    constructor(name: string) {
      this.name = name;
      const set = channels.get(name) ?? new Set();
      set.add(this);
      channels.set(name, set);
    }
    postMessage(message: unknown): void {
      for (const other of channels.get(this.name) ?? []) {
        if (other === this) continue;
        const data = structuredClone(message);
        setTimeout(() => other.onmessage?.(new MessageEvent('message', { data })), 0);
      }
    }
    close(): void {
      channels.get(this.name)?.delete(this);
    }
  }
  return FakeChannel as unknown as typeof BroadcastChannel;
}

const tick = (ms = 10) => new Promise((r) => setTimeout(r, ms));
/** Until every follower has heard who leads (messages arrive on later turns, later still on a busy machine). */
const known = (leader: string, ...followers: TabShare<number, number>[]) => vi.waitFor(() => followers.forEach((f) => expect(f.leaderId).toBe(leader)));

let open: TabShare<number, number>[] = [];
afterEach(() => {
  for (const t of open) t.close();
  open = [];
});

function world() {
  const locks = new FakeLocks() as unknown as LockManager;
  const Channel = fakeBroadcastChannel();
  const leads: string[] = [];
  const tab = (tabId: string, handler: TabHandler<number, number> = async (n) => n * 2) => {
    const share = shareAcrossTabs<number, number>({
      name: 'tessera:test',
      tabId,
      locks,
      BroadcastChannel: Channel,
      lead: async () => {
        leads.push(tabId);
        return handler;
      },
    });
    open.push(share);
    return share;
  };
  return { tab, leads, Channel };
}

describe('shareAcrossTabs', () => {
  it('the first tab leads; another tab is served by it', async () => {
    const { tab, leads } = world();
    const a = tab('a');
    const b = tab('b');
    await known('a', b);
    expect([a.role, b.role]).toEqual(['leader', 'follower']);
    expect(b.leaderId).toBe('a');
    expect(await a.request(1)).toEqual({ result: 2, servedBy: 'a' });
    expect(await b.request(21)).toEqual({ result: 42, servedBy: 'a' });
    expect(leads).toEqual(['a']);
  });

  it('when the leader leaves, the next tab leads and answers the requests still waiting', async () => {
    const { tab, leads } = world();
    let release: (() => void) | undefined;
    // The first leader never answers: its tab closes while the request is in flight.
    const a = tab('a', () => new Promise<number>((resolve) => (release = () => resolve(-1))));
    const b = tab('b', async (n) => n + 100);
    await known('a', b);
    const waiting = b.request(1);
    await tick();
    a.close();
    expect(await waiting).toEqual({ result: 101, servedBy: 'b' });
    expect(b.role).toBe('leader');
    expect(leads).toEqual(['a', 'b']);
    release?.(); // the old leader finishing late answers nobody
    await tick();
  });

  it('errors cross with their code', async () => {
    const { tab } = world();
    tab('a', async () => {
      throw new TesseraError('invalid-argument', 'not a PNG', { details: { bytes: 3 } });
    });
    const b = tab('b');
    await known('a', b);
    const err = await b.request(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err).toMatchObject({ code: 'invalid-argument', message: 'not a PNG', details: { bytes: 3 } });
  });

  it('an abort rejects with aborted; close() fails what waits with session-closed and refuses more', async () => {
    const { tab } = world();
    tab('a', () => new Promise<number>(() => {}));
    const b = tab('b');
    await known('a', b);
    const controller = new AbortController();
    const aborted = b.request(1, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'aborted' });
    await expect(b.request(1, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
    const waiting = b.request(2);
    b.close();
    await expect(waiting).rejects.toMatchObject({ code: 'session-closed' });
    await expect(b.request(3)).rejects.toMatchObject({ code: 'session-closed' });
  });

  it('ignores malformed messages on its channel', async () => {
    const { tab, Channel } = world();
    const a = tab('a');
    const b = tab('b');
    await known('a', b);
    const stranger = new Channel('tessera:test:channel');
    for (const junk of [null, 'x', { type: 'result' }, { type: 'result', from: 'z', id: 1, to: 'b' }, { type: 'warp', from: 'z' }]) stranger.postMessage(junk);
    await tick();
    expect(await b.request(5)).toEqual({ result: 10, servedBy: 'a' });
    expect(a.role).toBe('leader');
    stranger.close();
  });

  it('needs Web Locks and BroadcastChannel', () => {
    expect(() => shareAcrossTabs({ name: 'x', lead: async () => async () => 0, locks: undefined as unknown as LockManager, BroadcastChannel: undefined as unknown as typeof BroadcastChannel })).toThrow(
      expect.objectContaining({ code: 'device-unavailable' }),
    );
  });
});
