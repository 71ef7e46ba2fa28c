/**
 * The pure Coordinator's CPU per request and per batch in Node
 * (process.cpuUsage), as a cross-check of what a pool object was measured to
 * spend in workerd (bench/lib/pool-cost.ts). It runs what the object runs per
 * request minus the runtime: submit, dispatch, the infer frame encoded, the
 * result frame decoded and parsed, the answer. One session answers each batch
 * at once, so the coordinator is all that is measured.
 *
 * Batches of B are made by keeping the session busy with one batch while B
 * more requests queue; its answer releases them as one batch. Then
 * per-iteration CPU at B=1 is perRequest + perBatch, at B=8 it is
 * 8 x perRequest + perBatch: two equations, two unknowns.
 */
import { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { CoordinatorAction } from '../../src/coordinator/actions.ts';
import { decodeMessage, encodeMessage, parseSessionMessage, type InferMessage } from '../../src/protocol/coordinator-messages.ts';

export interface CoordinatorCpu {
  /** CPU ms per request at batch size 1 (a batch each). */
  batch1Ms: number;
  /** CPU ms per request at batch size 8. */
  batch8Ms: number;
  perRequestMs: number;
  perBatchMs: number;
  requests: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU ms per request with batches of `batch` (1 or more), over `requests` requests. */
function perRequestAt(batch: number, requests: number): number {
  const c = new Coordinator({ config: { maxBatch: batch, maxDelayMs: 0, queueLimit: 1_000_000 }, createId: () => 's' });
  let inFlight: InferMessage | undefined;
  const x = { type: 'float32' as const, dims: [1, 4], data: new Float32Array(4) };
  const run = (actions: CoordinatorAction[]): void => {
    for (const a of actions) {
      if (a.type === 'send' && a.message.type === 'infer') {
        // The object encodes every frame it sends.
        const frame = encodeMessage(a.message);
        if (frame.byteLength === 0) throw new Error('empty frame');
        inFlight = a.message;
      }
    }
  };
  run(c.join({ type: 'join', token: 't', device: 'sim', models: [{ name: 'm', revision: '1', maxBatch: batch }], capacity: { maxInFlight: 1, requestsPerSecond: 1e6 } }, 0).actions);
  let n = 0;
  let now = 1;
  const answer = (): void => {
    const msg = inFlight!;
    inFlight = undefined;
    const rows = msg.batchSizes.reduce((a, b) => a + b, 0);
    // The session's result frame, as the object receives it: bytes in, decoded and checked.
    const frame = encodeMessage({ type: 'result', requestIds: msg.requestIds, outputs: { y: { type: 'float32', dims: [rows, 4], data: new Float32Array(rows * 4) } } });
    run(c.handle('s', parseSessionMessage(decodeMessage(frame)), now));
  };
  // One batch in flight keeps the session busy while the next batch queues.
  run(c.submit({ id: `r${n++}`, model: 'm', inputs: { x } }, now));
  const start = cpuMs();
  while (n < requests) {
    for (let i = 0; i < batch; i++) run(c.submit({ id: `r${n++}`, model: 'm', inputs: { x } }, now));
    now += 1;
    answer();
  }
  return (cpuMs() - start) / (requests - 1);
}

/**
 * @example
 * const cpu = measureCoordinatorCpu(); // { perRequestMs: 0.01, perBatchMs: 0.02, ... }
 */
export function measureCoordinatorCpu(requests = 80_000): CoordinatorCpu {
  perRequestAt(1, 5_000); // warm the JIT
  perRequestAt(8, 5_000);
  const batch1Ms = perRequestAt(1, requests);
  const batch8Ms = perRequestAt(8, requests);
  // t1 = r + b; t8 = r + b / 8.
  const perBatchMs = Math.max(0, ((batch1Ms - batch8Ms) * 8) / 7);
  return { batch1Ms, batch8Ms, perBatchMs, perRequestMs: Math.max(0, batch1Ms - perBatchMs), requests };
}
