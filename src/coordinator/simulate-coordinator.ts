/**
 * A discrete-event simulation of a coordinator with sessions whose model is a
 * fixed service time, driven by a fake clock, with closed-loop clients. It
 * measures the routing and batching logic alone (no sockets, no runtime), so
 * policy comparisons are exact and repeatable; the wrangler benchmark
 * measures the same things end to end.
 *
 * With `objectCost`, the coordinator itself is a single-threaded server (one
 * Durable Object is one thread): each submitted request and each batch
 * result occupies it for a fixed time, and events queue behind each other.
 * That is what limits one object's throughput when sessions are fast, and
 * what simulatePools (simulate-pools.ts) multiplies across pools.
 */
import { TesseraError } from '../errors.ts';
import type { CoordinatorAction } from './actions.ts';
import type { CoordinatorConfig } from './config.ts';
import { Coordinator } from './coordinator.ts';
import type { InferMessage } from '../protocol/coordinator-messages.ts';
import { seededRandom } from '../seeded-random.ts';

export interface SimulatedSession {
  /** Time to run one batch, whatever its size (ms). */
  serviceMs: number;
  /** Batches accepted at once (only one runs; the rest wait in the session). */
  maxInFlight: number;
  /** What the session claims, the rate estimator's prior. */
  declaredRps: number;
  maxBatch?: number;
  /** The model it serves (default `m`). */
  model?: string;
}

/** What one coordinator object spends per event, in ms of its one thread (measured in workerd: bench/lib/pool-cost.ts). */
export interface ObjectCost {
  /** Per request: the RPC in, admission, queueing, and the answer back. */
  perRequestMs: number;
  /** Per batch: the infer frame out and the result frame in, whatever the batch size. */
  perBatchMs: number;
}

export interface SimulationOptions {
  sessions: SimulatedSession[];
  /** Closed-loop clients: each sends its next request when the last is answered. */
  clients: number;
  durationMs: number;
  /** Completions before this are not counted (the rate estimator is learning). */
  warmupMs?: number;
  config?: Partial<CoordinatorConfig>;
  /** Seed for power-of-two choices. */
  seed?: number;
  /** The model each client asks for, by client index (cycled); default every client asks for `m`. */
  clientModels?: string[];
  /** Absent: the coordinator costs nothing (routing logic alone). */
  objectCost?: ObjectCost;
}

export interface SimulationResult {
  /** Successful responses per second after warm-up. */
  throughput: number;
  completed: number;
  errors: Record<string, number>;
  /** Requests each session ran after warm-up. */
  perSession: number[];
  p50Ms: number;
  p99Ms: number;
  /** Share of the time the coordinator object was busy (0 without objectCost). */
  objectBusy: number;
}

type Event = { at: number; seq: number; run: () => void };

/**
 * @example
 * const r = simulateCoordinator({ sessions: [{ serviceMs: 10, maxInFlight: 2, declaredRps: 100 }], clients: 4, durationMs: 20_000 });
 * r.throughput; // ~100 per second
 */
export function simulateCoordinator(options: SimulationOptions): SimulationResult {
  const warmup = options.warmupMs ?? 0;
  const events: Event[] = [];
  let seq = 0;
  let now = 0;
  const at = (time: number, run: () => void): void => {
    const e = { at: time, seq: seq++, run };
    // Binary insertion keeps events ordered by (time, insertion).
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = events[mid] as Event;
      if (m.at < e.at || (m.at === e.at && m.seq < e.seq)) lo = mid + 1;
      else hi = mid;
    }
    events.splice(lo, 0, e);
  };

  const coordinator = new Coordinator({ config: options.config, random: seededRandom(options.seed ?? 1), createId: (() => { let n = 0; return () => `s${n++}`; })() });
  const ids: string[] = [];
  const local = new Map<string, { spec: SimulatedSession; queue: InferMessage[]; busy: boolean; index: number }>();
  const perSession = options.sessions.map(() => 0);
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const submittedAt = new Map<string, number>();
  let completed = 0;
  let nextRequest = 0;
  let wake: number | undefined;
  const clientOf = new Map<string, number>();
  const cost = options.objectCost;
  // The object's one thread: an event starts when the previous one is done.
  let objectFree = 0;
  let objectBusyMs = 0;
  const onObject = (ms: number, work: () => void): void => {
    if (!cost) return work();
    const start = Math.max(now, objectFree);
    objectFree = start + ms;
    if (start >= warmup) objectBusyMs += ms;
    at(objectFree, work);
  };

  const runSession = (id: string): void => {
    const s = local.get(id);
    if (!s || s.busy) return;
    const msg = s.queue.shift();
    if (!msg) return;
    s.busy = true;
    at(now + s.spec.serviceMs, () => {
      s.busy = false;
      if (now >= warmup) perSession[s.index] = (perSession[s.index] as number) + msg.requestIds.length;
      const rows = msg.batchSizes.reduce((a, b) => a + b, 0);
      onObject(cost?.perBatchMs ?? 0, () => perform(coordinator.handle(id, { type: 'result', requestIds: msg.requestIds, outputs: { y: { type: 'float32', dims: [rows], data: new Float32Array(rows) } } }, now)));
      runSession(id);
    });
  };

  const models = options.clientModels ?? ['m'];
  const submit = (client: number): void => {
    const id = `r${nextRequest++}`;
    submittedAt.set(id, now);
    clientOf.set(id, client);
    const model = models[client % models.length] as string;
    onObject(cost?.perRequestMs ?? 0, () => perform(coordinator.submit({ id, model, inputs: { x: { type: 'float32', dims: [1], data: new Float32Array(1) } } }, now)));
  };

  function perform(actions: CoordinatorAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          if (a.message.type === 'infer') {
            local.get(a.sessionId)?.queue.push(a.message);
            runSession(a.sessionId);
          }
          break;
        case 'respond': {
          const started = submittedAt.get(a.requestId) ?? now;
          submittedAt.delete(a.requestId);
          const client = clientOf.get(a.requestId) ?? 0;
          clientOf.delete(a.requestId);
          if (a.response.type === 'result') {
            if (now >= warmup) {
              completed++;
              latencies.push(now - started);
            }
            // Closed loop: the client sends its next request straight away.
            at(now, () => submit(client));
          } else {
            errors[a.response.error.code] = (errors[a.response.error.code] ?? 0) + 1;
            // A refused client waits as told (Retry-After), as a well-behaved HTTP client does: an
            // instant retry would only measure how fast the object can say no.
            at(now + (a.response.type === 'error' && a.response.retryAfterSeconds !== undefined ? a.response.retryAfterSeconds * 1000 : 0), () => submit(client));
          }
          break;
        }
        case 'close':
        case 'stream': // the simulation submits no generations
          break;
        default: {
          const never: never = a;
          throw new TesseraError('internal', `unhandled action ${JSON.stringify(never)}`);
        }
      }
    }
    const next = coordinator.nextWakeAt();
    if (next !== undefined && (wake === undefined || next < wake || wake < now)) {
      wake = Math.max(next, now);
      const when = wake;
      at(when, () => {
        if (wake === when) wake = undefined;
        perform(coordinator.tick(now));
      });
    }
  }

  options.sessions.forEach((spec, index) => {
    const { sessionId, actions } = coordinator.join({
      type: 'join', token: 'sim', device: 'sim', models: [{ name: spec.model ?? 'm', revision: '1', maxBatch: spec.maxBatch ?? 1 }],
      capacity: { maxInFlight: spec.maxInFlight, requestsPerSecond: spec.declaredRps },
    }, 0);
    ids.push(sessionId);
    local.set(sessionId, { spec, queue: [], busy: false, index });
    perform(actions);
    const beat = (): void => {
      perform(coordinator.handle(sessionId, { type: 'heartbeat' }, now));
      at(now + coordinator.config.heartbeatMs, beat);
    };
    at(coordinator.config.heartbeatMs, beat);
  });
  for (let c = 0; c < options.clients; c++) at(0, () => submit(c));

  while (events.length > 0) {
    const e = events.shift() as Event;
    if (e.at > options.durationMs) break;
    now = e.at;
    e.run();
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const measured = options.durationMs - warmup;
  return { throughput: completed / (measured / 1000), completed, errors, perSession, p50Ms: q(0.5), p99Ms: q(0.99), objectBusy: measured > 0 ? Math.min(1, objectBusyMs / measured) : 0 };
}
