import { describe, expect, it } from 'vitest';
import type { JoinMessage } from '../protocol/coordinator-messages.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import type { CoordinatorAction } from './actions.ts';
import { Coordinator } from './coordinator.ts';
import { pickSession, type Candidate } from './routing-policy.ts';
import { simulateCoordinator, type SimulatedSession } from './simulate-coordinator.ts';

const x = (): TensorMap => ({ x: { type: 'float32', dims: [1, 2], data: new Float32Array(2) } });
const infers = (a: CoordinatorAction[]) => a.flatMap((v) => (v.type === 'send' && v.message.type === 'infer' ? [{ sessionId: v.sessionId, ids: v.message.requestIds }] : []));
const join = (id: string, requestsPerSecond: number): JoinMessage => ({
  type: 'join', token: 't', sessionId: id, device: 'test', models: [{ name: 'm', revision: '1', maxBatch: 1 }], capacity: { maxInFlight: 1, requestsPerSecond },
});
/** A fast (10/s) session and a slow (2/s) one, like native and wasm on one machine, under `policy`. */
const pool = (policy: 'earliest-completion' | 'least-expected-delay') => {
  const c = new Coordinator({ config: { policy, maxBatch: 1, maxDelayMs: 0, leaseMs: 60_000, heartbeatMs: 1000 }, random: () => 0.5 });
  c.join(join('fast', 10), 0);
  c.join(join('slow', 2), 0);
  return c;
};

describe('earliest-completion routing', () => {
  it('picks the least expected completion, a session with no free slot included; a free one wins a tie', () => {
    const cursor = { last: -1 };
    const busyFast: Candidate & { full: boolean } = { id: 'fast', inFlight: 1, rate: 10, order: 0, full: true };
    const idleSlow: Candidate = { id: 'slow', inFlight: 0, rate: 2, order: 1 };
    expect(pickSession('earliest-completion', [busyFast, idleSlow], cursor, Math.random)?.id).toBe('fast');
    // (4 + 1) / 10 = 0.5 s either way: the free one starts now.
    expect(pickSession('earliest-completion', [{ ...busyFast, inFlight: 4 }, idleSlow], cursor, Math.random)?.id).toBe('slow');
    // least-expected-delay is only ever offered free sessions; handed both, it would not prefer the free one on a tie.
    expect(pickSession('least-expected-delay', [{ ...busyFast, inFlight: 4 }, idleSlow], cursor, Math.random)?.id).toBe('fast');
  });

  it('a request waits for a busy fast session rather than going to a free slow one that would finish later', () => {
    const ec = pool('earliest-completion');
    expect(infers(ec.submit({ id: 'r0', model: 'm', inputs: x() }, 0))).toEqual([{ sessionId: 'fast', ids: ['r0'] }]);
    // fast: (1 + k + 1) / 10 s for the k-th waiting; slow: 0.5 s. The first three wait, the fourth goes to slow.
    const placed = [1, 2, 3, 4].flatMap((i) => infers(ec.submit({ id: `r${i}`, model: 'm', inputs: x() }, 1)));
    expect(placed).toEqual([{ sessionId: 'slow', ids: ['r4'] }]);
    expect(infers(ec.handle('fast', { type: 'result', requestIds: ['r0'], outputs: x() }, 100))).toEqual([{ sessionId: 'fast', ids: ['r1'] }]);
    // The same arrivals under least-expected-delay: r1 goes to the idle slow session at once.
    const led = pool('least-expected-delay');
    led.submit({ id: 'r0', model: 'm', inputs: x() }, 0);
    expect(infers(led.submit({ id: 'r1', model: 'm', inputs: x() }, 1))).toEqual([{ sessionId: 'slow', ids: ['r1'] }]);
  });

  it('stops waiting for a session that stalls: past twice its expected time, the request goes to the free one', () => {
    const c = pool('earliest-completion');
    c.submit({ id: 'r0', model: 'm', inputs: x() }, 0);
    expect(infers(c.submit({ id: 'r1', model: 'm', inputs: x() }, 1))).toEqual([]);
    // fast has had r0 for 2 x 100 ms: the pool wakes then and places r1 again.
    expect(c.nextWakeAt()).toBe(200);
    expect(infers(c.tick(199))).toEqual([]);
    expect(infers(c.tick(200))).toEqual([{ sessionId: 'slow', ids: ['r1'] }]);
  });

  it('keeps the simulated pools at their throughput: equal sessions scale, one slow session does not drag them down', () => {
    const equal: SimulatedSession = { serviceMs: 10, maxInFlight: 4, declaredRps: 100 };
    const config = { policy: 'earliest-completion' as const, maxBatch: 1, maxDelayMs: 0 };
    const run = (sessions: SimulatedSession[], clients: number) => simulateCoordinator({ sessions, clients, durationMs: 20_000, warmupMs: 5_000, config });
    const single = run([equal], 2).throughput;
    expect(run([equal, equal, equal, equal], 8).throughput / (4 * single)).toBeGreaterThanOrEqual(0.95);
    expect(run([equal, equal, equal, { ...equal, serviceMs: 40 }], 8).throughput / 325).toBeGreaterThanOrEqual(0.9);
  });
});
