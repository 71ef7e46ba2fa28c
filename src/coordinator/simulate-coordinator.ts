/**
 * A discrete-event simulation of a coordinator with sessions whose model is a
 * fixed service time, driven by a fake clock, with closed-loop clients. It
 * measures the routing and batching logic alone (no sockets, no runtime), so
 * policy comparisons are exact and repeatable; the wrangler benchmark
 * measures the same things end to end.
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
      perform(coordinator.handle(id, { type: 'result', requestIds: msg.requestIds, outputs: { y: { type: 'float32', dims: [rows], data: new Float32Array(rows) } } }, now));
      runSession(id);
    });
  };

  const submit = (): void => {
    const id = `r${nextRequest++}`;
    submittedAt.set(id, now);
    perform(coordinator.submit({ id, model: 'm', inputs: { x: { type: 'float32', dims: [1], data: new Float32Array(1) } } }, now));
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
          if (a.response.type === 'result') {
            if (now >= warmup) {
              completed++;
              latencies.push(now - started);
            }
          } else {
            errors[a.response.error.code] = (errors[a.response.error.code] ?? 0) + 1;
          }
          // Closed loop: the client sends its next request straight away.
          at(now, submit);
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
      type: 'join', token: 'sim', device: 'sim', models: [{ name: 'm', revision: '1', maxBatch: spec.maxBatch ?? 1 }],
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
  for (let c = 0; c < options.clients; c++) at(0, submit);

  while (events.length > 0) {
    const e = events.shift() as Event;
    if (e.at > options.durationMs) break;
    now = e.at;
    e.run();
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { throughput: completed / ((options.durationMs - warmup) / 1000), completed, errors, perSession, p50Ms: q(0.5), p99Ms: q(0.99) };
}
