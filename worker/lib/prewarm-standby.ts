/**
 * Prewarming, the directory's side: the standby sockets of sessions that
 * offer to load models (`GET /v1/sessions/standby`, src/protocol/standby-messages.ts),
 * and the loop that runs the pure policy (src/coordinator/prewarm-policy.ts)
 * over them and the pools' summaries, then carries out what it decides.
 *
 * Why the directory and not each pool: a pool sees only its own pressure and
 * would need every offering session to hold a socket to every pool. The
 * directory already receives every pool's summary (about once a second per
 * busy pool), so one standby socket per session reaches the one object that
 * can weigh all models against one session's budget. Pools are unchanged: a
 * prewarmed model joins its pool like any session, marked `prewarmed`.
 *
 * State lives where it survives hibernation: each standby socket's
 * attachment holds its offer and the loads it was asked for; the policy's
 * windows (plain data) are in memory and restart after a wake-up, which only
 * delays a decision. Model sizes come from the R2 manifests (`totalBytes`),
 * read once per revision. Every step is recorded through the directory's
 * `recordPrewarm` (the dashboard's feed) and counted for `/metrics`.
 *
 * Auth and close codes are the pool sockets': the `standby` message carries
 * the join token (refused: 4401), it must arrive within JOIN_TIMEOUT_MS
 * (4408), a newer socket with the same id replaces the old one (4002), and a
 * socket silent for a lease is closed (4001).
 */
import { DEFAULT_COORDINATOR_CONFIG } from '../../src/coordinator/config.ts';
import type { PoolSummary, PrewarmEvent, PrewarmMetrics } from '../../src/coordinator/pool-summary.ts';
import { prewarmConfigFromVar, type PrewarmConfig } from '../../src/coordinator/prewarm-config.ts';
import { decidePrewarm, emptyPrewarmMemory, settlePrewarm, type PrewarmAction, type PrewarmMemory, type StandbyState } from '../../src/coordinator/prewarm-policy.ts';
import { CLOSE_JOIN_TIMEOUT, CLOSE_LEASE_EXPIRED, CLOSE_REPLACED, CLOSE_UNAUTHORIZED, JOIN_TIMEOUT_MS } from '../../src/protocol/coordinator-messages.ts';
import { decodeStandbyFrame, parseStandbySessionMessage, type DirectoryStandbyMessage, type StandbyMessage, type StandbySessionMessage } from '../../src/protocol/standby-messages.ts';
import { TesseraError, toErrorData } from '../../src/errors.ts';
import { errorResponse } from '../http-error.ts';
import { PrewarmSizes } from './prewarm-sizes.ts';
import { timingSafeEqualText } from './timing-safe-equal.ts';

/** The path the Worker forwards standby sockets on (worker/routes/sessions.ts). */
export const STANDBY_PATH = '/v1/sessions/standby';
/** The hibernation tag of standby sockets: the directory's handlers tell them from other sockets by it. */
export const STANDBY_TAG = 'standby';

const COUNTERS_KEY = 'prewarm-counters';
/** Alarms fire up to ~100 ms early under wrangler dev: a deadline due this soon counts as due. */
const ALARM_EARLY_MS = 250;

export interface PrewarmEnv {
  TESSERA_JOIN_TOKEN?: string;
  /** JSON of Partial<PrewarmConfig> (src/coordinator/prewarm-config.ts). */
  TESSERA_PREWARM_CONFIG?: string;
  PACKS?: R2Bucket;
}

/** What the directory lends this code. */
export interface PrewarmHost {
  ctx: DurableObjectState;
  env: PrewarmEnv;
  /** The latest summary of every pool. */
  pools(): PoolSummary[];
  /** The directory's recordPrewarm (ring + feed). */
  record(event: PrewarmEvent): Promise<void>;
}

interface Pending { kind: 'pending'; joinBy: number }
interface Joined { kind: 'joined'; standby: StandbyState; leaseUntil: number }
type Attachment = Pending | Joined | null;

/**
 * @example
 * const standby = new PrewarmStandby({ ctx, env, pools: () => [...pools.values()], record: (e) => this.recordPrewarm(e) });
 * standby.accept(request); // a 101 with the socket
 */
export class PrewarmStandby {
  readonly #host: PrewarmHost;
  /** Undefined when TESSERA_PREWARM_CONFIG is bad: prewarming is off (standby sockets are refused with the reason), the directory's other work goes on. */
  readonly #config: PrewarmConfig | undefined;
  readonly #configError: TesseraError | undefined;
  #memory: PrewarmMemory = emptyPrewarmMemory();
  readonly #sizes: PrewarmSizes;
  #counters: Record<string, number> | undefined;
  #alarmAt: number | undefined;

  constructor(host: PrewarmHost) {
    this.#host = host;
    this.#sizes = new PrewarmSizes(host.env.PACKS);
    try {
      this.#config = prewarmConfigFromVar(host.env.TESSERA_PREWARM_CONFIG);
    } catch (err) {
      this.#configError = err instanceof TesseraError ? err : new TesseraError('invalid-argument', String(err));
      console.error(`prewarming is off: ${this.#configError.message}`);
    }
  }

  /** True for a socket this code accepted. */
  owns(ws: WebSocket): boolean {
    try {
      return this.#host.ctx.getTags(ws).includes(STANDBY_TAG);
    } catch {
      // workerd refuses tags of a socket it is already closing (seen on a
      // refused offer's close event); standby sockets are the only ones the
      // directory accepts, so it is ours.
      return true;
    }
  }

  /** The `/v1/sessions/standby` upgrade, forwarded by the Worker. */
  accept(request: Request): Response {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return errorResponse(426, 'bad-request', 'the standby endpoint needs a WebSocket upgrade (Upgrade: websocket)');
    }
    if (this.#configError) return errorResponse(500, 'internal', `prewarming is off: ${this.#configError.message}`);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.#host.ctx.acceptWebSocket(server, [STANDBY_TAG]);
    server.serializeAttachment({ kind: 'pending', joinBy: Date.now() + JOIN_TIMEOUT_MS } satisfies Pending);
    this.#arm(Date.now());
    return new Response(null, { status: 101, webSocket: client });
  }

  async message(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const now = Date.now();
    const attachment = ws.deserializeAttachment() as Attachment;
    let msg: StandbySessionMessage;
    try {
      msg = parseStandbySessionMessage(decodeStandbyFrame(data));
    } catch (err) {
      this.#send(ws, { type: 'error', error: toErrorData(err) });
      // Before the offer, a malformed message (an offer without a token included) is refused like a wrong token.
      if (attachment?.kind !== 'joined') this.#refuse(ws);
      return;
    }
    if (attachment?.kind !== 'joined') {
      if (msg.type !== 'standby' || !(await this.#tokenOk(msg.token))) {
        this.#send(ws, { type: 'error', error: toErrorData(new TesseraError('unauthorized', 'send "standby" first, with a valid join token')) });
        this.#refuse(ws);
        return;
      }
      await this.#join(ws, msg, now);
      return;
    }
    const joined = attachment;
    joined.leaseUntil = now + DEFAULT_COORDINATOR_CONFIG.leaseMs;
    const { standby } = joined;
    // Recorded after the attachment is written, so the world is current whenever the next event runs.
    const events: PrewarmEvent[] = [];
    switch (msg.type) {
      case 'standby':
        this.#send(ws, { type: 'error', error: toErrorData(new TesseraError('bad-request', 'this socket already sent its "standby" offer; open a new socket to change it')) });
        break;
      case 'heartbeat':
        break;
      case 'progress': {
        const load = standby.loads.find((l) => l.model === msg.model);
        if (load && load.state !== 'ready') {
          load.state = 'loading';
          load.lastHeardAt = now;
          events.push({ at: now, type: 'progress', sessionId: standby.sessionId, model: msg.model, loadedBytes: msg.loadedBytes, totalBytes: msg.totalBytes });
        }
        break;
      }
      case 'ready': {
        const load = standby.loads.find((l) => l.model === msg.model);
        if (load) {
          load.state = 'ready';
          load.readyAt = now;
          load.lastHeardAt = now;
        } else {
          // A load that finished while the socket was being replaced: the session holds it, so count it.
          const size = this.#sizes.known.get(msg.model);
          standby.loads = [...standby.loads, { model: msg.model, revision: msg.revision, bytes: size?.bytes ?? 0, state: 'ready', lastHeardAt: now, readyAt: now }];
        }
        this.#memory = settlePrewarm(this.#memory, msg.model, standby.sessionId, now, 'ready', this.#config);
        events.push({ at: now, type: 'ready', sessionId: standby.sessionId, model: msg.model });
        break;
      }
      case 'failed':
      case 'declined': {
        standby.loads = standby.loads.filter((l) => l.model !== msg.model);
        this.#memory = settlePrewarm(this.#memory, msg.model, standby.sessionId, now, 'failed', this.#config);
        const reason = msg.type === 'failed' ? `${msg.error.code}: ${msg.error.message}` : msg.reason;
        events.push({ at: now, type: msg.type, sessionId: standby.sessionId, model: msg.model, reason });
        break;
      }
      case 'unloaded':
        // Its load left the world when the unload was sent; a session that unloaded on its own is dropped here.
        standby.loads = standby.loads.filter((l) => l.model !== msg.model);
        break;
      case 'leave':
        ws.serializeAttachment(null);
        ws.close(1000, 'left');
        await this.decide();
        return;
      default: {
        const never: never = msg;
        throw new TesseraError('internal', `unhandled standby message ${JSON.stringify(never)}`);
      }
    }
    ws.serializeAttachment(joined);
    for (const event of events) await this.#record(event);
    if (msg.type !== 'heartbeat' && msg.type !== 'progress') await this.decide();
  }

  async close(ws: WebSocket, code?: number, reason?: string): Promise<void> {
    let had = false;
    try {
      had = (ws.deserializeAttachment() as Attachment)?.kind === 'joined';
      ws.serializeAttachment(null);
      ws.close(code === undefined || code === 1005 || code === 1006 ? 1000 : code, reason ?? '');
    } catch {
      // Already closed.
    }
    // Its prewarmed models are pool sessions of their own: they serve on (and
    // leave their pools with the process). They no longer count here; a
    // reconnect lists them again.
    if (had) await this.decide();
  }

  /** Join and lease deadlines, and the policy's own wake-ups. */
  async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    const now = Date.now();
    for (const ws of this.#sockets()) {
      const a = ws.deserializeAttachment() as Attachment;
      if (a?.kind === 'pending' && a.joinBy <= now + ALARM_EARLY_MS) {
        this.#send(ws, { type: 'error', error: toErrorData(new TesseraError('timeout', `no "standby" offer within ${JOIN_TIMEOUT_MS} ms of the upgrade`)) });
        this.#closeWith(ws, CLOSE_JOIN_TIMEOUT, `no offer within ${JOIN_TIMEOUT_MS} ms`);
      } else if (a?.kind === 'joined' && a.leaseUntil <= now) {
        this.#closeWith(ws, CLOSE_LEASE_EXPIRED, 'lease expired: no heartbeat');
      }
    }
    await this.decide();
  }

  /**
   * Runs the policy over the world as it is now and carries out its actions.
   * Call after every pool report. Never throws: a prewarming fault is logged
   * and must not fail the pool's report.
   */
  async decide(): Promise<void> {
    try {
      await this.#decide();
    } catch (err) {
      console.error('prewarm: decision failed', err);
    }
  }

  async #decide(): Promise<void> {
    const config = this.#config;
    if (!config) return;
    const now = Date.now();
    const joined = this.#joined();
    const decision = decidePrewarm({ now, pools: this.#host.pools(), standbys: joined.map((j) => j.attachment.standby), sizes: this.#sizes.known }, this.#memory, config);
    this.#memory = decision.memory;
    const byId = new Map(joined.map((j) => [j.attachment.standby.sessionId, j]));
    for (const action of decision.actions) await this.#carryOut(action, byId, now);
    this.#arm(now, decision.wakeAt);
  }

  /** Counters and gauges for `/metrics`. */
  async metrics(): Promise<PrewarmMetrics> {
    const counters = await this.#loadCounters();
    const standbys = this.#joined().map((j) => j.attachment.standby);
    const prewarmed = new Map<string, number>();
    for (const s of standbys) for (const l of s.loads) if (l.state === 'ready') prewarmed.set(l.model, (prewarmed.get(l.model) ?? 0) + 1);
    return {
      standbySessions: standbys.length,
      budgetOfferedBytes: standbys.reduce((n, s) => n + s.budgetBytes, 0),
      budgetUsedBytes: standbys.reduce((n, s) => n + s.loads.reduce((m, l) => m + l.bytes, 0), 0),
      events: Object.entries(counters).map(([key, count]) => {
        const [model, type] = key.split('\n') as [string, PrewarmEvent['type']];
        return { model, type, count };
      }).sort((a, b) => (a.model + a.type < b.model + b.type ? -1 : 1)),
      prewarmed: [...prewarmed].map(([model, sessions]) => ({ model, sessions })).sort((a, b) => (a.model < b.model ? -1 : 1)),
    };
  }

  async #join(ws: WebSocket, msg: StandbyMessage, now: number): Promise<void> {
    const sessionId = msg.sessionId ?? crypto.randomUUID();
    for (const other of this.#joined()) {
      if (other.ws !== ws && other.attachment.standby.sessionId === sessionId) this.#closeWith(other.ws, CLOSE_REPLACED, 'replaced by a newer connection');
    }
    const standby: StandbyState = {
      sessionId, device: msg.device, budgetBytes: msg.budgetBytes, models: msg.models, serving: msg.serving,
      // What it still holds from before a reconnect: ready, and resident from now (the directory cannot know since when).
      loads: msg.loaded.map((l) => ({ ...l, state: 'ready', lastHeardAt: now, readyAt: now })),
    };
    ws.serializeAttachment({ kind: 'joined', standby, leaseUntil: now + DEFAULT_COORDINATOR_CONFIG.leaseMs } satisfies Joined);
    this.#send(ws, { type: 'standing-by', sessionId, leaseMs: DEFAULT_COORDINATOR_CONFIG.leaseMs, heartbeatMs: DEFAULT_COORDINATOR_CONFIG.heartbeatMs });
    await this.decide();
  }

  async #carryOut(action: PrewarmAction, byId: Map<string, { ws: WebSocket; attachment: Joined }>, now: number): Promise<void> {
    switch (action.type) {
      case 'need-size':
        // Off the caller's path (a pool's report): decide again once the size is known.
        this.#host.ctx.waitUntil(this.#sizes.lookUp(action.model, action.revision, now).then((known) => (known ? this.decide() : undefined)));
        return;
      case 'prewarm': {
        const target = byId.get(action.sessionId);
        if (!target) return;
        const { standby } = target.attachment;
        standby.loads = [...standby.loads, { model: action.model, revision: action.revision, bytes: action.bytes, state: 'asked', lastHeardAt: now }];
        target.ws.serializeAttachment(target.attachment);
        this.#send(target.ws, { type: 'prewarm', model: action.model, revision: action.revision, bytes: action.bytes });
        await this.#record({ at: now, type: 'asked', sessionId: action.sessionId, model: action.model, reason: action.reason, totalBytes: action.bytes });
        return;
      }
      case 'unload': {
        const target = byId.get(action.sessionId);
        if (!target) return;
        const { standby } = target.attachment;
        standby.loads = standby.loads.filter((l) => l.model !== action.model);
        target.ws.serializeAttachment(target.attachment);
        const reason = action.cause === 'timeout' ? `ask timed out: ${action.reason}` : action.reason;
        this.#send(target.ws, { type: 'unload', model: action.model, reason });
        await this.#record({ at: now, type: 'unload', sessionId: action.sessionId, model: action.model, reason });
        return;
      }
      default: {
        const never: never = action;
        throw new TesseraError('internal', `unhandled prewarm action ${JSON.stringify(never)}`);
      }
    }
  }

  async #record(event: PrewarmEvent): Promise<void> {
    const counters = await this.#loadCounters();
    const key = `${event.model}\n${event.type}`;
    counters[key] = (counters[key] ?? 0) + 1;
    await this.#host.ctx.storage.put(COUNTERS_KEY, counters);
    await this.#host.record(event);
  }

  async #loadCounters(): Promise<Record<string, number>> {
    this.#counters ??= (await this.#host.ctx.storage.get<Record<string, number>>(COUNTERS_KEY)) ?? {};
    return this.#counters;
  }

  #sockets(): WebSocket[] {
    return this.#host.ctx.getWebSockets(STANDBY_TAG);
  }

  #joined(): { ws: WebSocket; attachment: Joined }[] {
    const out: { ws: WebSocket; attachment: Joined }[] = [];
    for (const ws of this.#sockets()) {
      const attachment = ws.deserializeAttachment() as Attachment;
      if (attachment?.kind === 'joined') out.push({ ws, attachment });
    }
    return out;
  }

  /** The earliest of every join deadline, lease and the policy's wake-up goes to the storage alarm (it survives hibernation). */
  #arm(now: number, wakeAt?: number): void {
    let at = wakeAt;
    for (const ws of this.#sockets()) {
      const a = ws.deserializeAttachment() as Attachment;
      const due = a?.kind === 'pending' ? a.joinBy : a?.kind === 'joined' ? a.leaseUntil : undefined;
      if (due !== undefined && (at === undefined || due < at)) at = due;
    }
    if (at === undefined) return;
    if (this.#alarmAt === undefined || at < this.#alarmAt || this.#alarmAt <= now) {
      this.#alarmAt = at;
      void this.#host.ctx.storage.setAlarm(Math.max(at, now + 1));
    }
  }

  #send(ws: WebSocket, msg: DirectoryStandbyMessage): void {
    try {
      ws.send(JSON.stringify(msg));
    } catch {
      // Closing under us: its close handler updates the world.
    }
  }

  #refuse(ws: WebSocket): void {
    this.#closeWith(ws, CLOSE_UNAUTHORIZED, 'unauthorized');
  }

  #closeWith(ws: WebSocket, code: number, reason: string): void {
    ws.serializeAttachment(null);
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  async #tokenOk(token: string): Promise<boolean> {
    const expected = this.#host.env.TESSERA_JOIN_TOKEN;
    if (!expected) return false;
    // Hashing awaits, and an await is where a Durable Object takes the next
    // event: block them, so a message after the offer is never read before
    // the offer is decided (as the pool sockets do).
    return this.#host.ctx.blockConcurrencyWhile(() => timingSafeEqualText(token, expected));
  }
}
