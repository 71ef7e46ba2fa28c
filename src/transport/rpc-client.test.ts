/**
 * The RPC kit over a real MessageChannel: a small made-up protocol served by
 * `serveRequests` with a handler under the test's control.
 */
import { describe, expect, it } from 'vitest';
import { TesseraError, type ErrorData } from '../errors.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';
import { createRpcClient } from './rpc-client.ts';
import { serveRequests, type PortLike } from './rpc-server.ts';

type Req =
  | { type: 'echo'; id: number; text: string }
  | { type: 'count'; id: number; to: number }
  | { type: 'slow'; id: number; ms: number }
  | { type: 'cancel'; id: number };
type Res =
  | { type: 'echoed'; id: number; text: string }
  | { type: 'progress'; id: number; done: number }
  | { type: 'chunk'; id: number; n: number }
  | { type: 'counted'; id: number; total: number }
  | { type: 'slept'; id: number }
  | { type: 'error'; id: number; error: ErrorData };

function parseReq(data: unknown): Req {
  const msg = data as Req;
  if (typeof msg?.type !== 'string' || !Number.isInteger(msg.id)) throw new TesseraError('bad-request', 'not a request');
  return msg;
}

function parseRes(data: unknown): Res {
  const msg = data as Res;
  if (typeof msg?.type !== 'string' || !Number.isInteger(msg.id)) throw new TesseraError('bad-request', 'not a response');
  return msg;
}

/** `slowStop`: how long a cancelled `slow` takes to stop (it then answers `slept` anyway when `finishAnyway`). */
function setup(opts: { slowStop?: number; finishAnyway?: boolean } = {}) {
  const { port1, port2 } = new MessageChannel();
  const cancelled: number[] = [];
  const post = (m: Res) => port2.postMessage(m);
  const stop = serveRequests<Req>(port2 as unknown as PortLike, parseReq, async (request, signal) => {
    switch (request.type) {
      case 'echo':
        if (request.text === 'fail') throw new TesseraError('integrity-error', 'bad chunk', { details: { chunk: 3 } });
        post({ type: 'echoed', id: request.id, text: request.text });
        return;
      case 'count': {
        let total = 0;
        for (let n = 1; n <= request.to; n++) {
          post({ type: 'progress', id: request.id, done: n });
          post({ type: 'chunk', id: request.id, n });
          total += n;
        }
        post({ type: 'counted', id: request.id, total });
        return;
      }
      case 'slow':
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, request.ms);
          signal.addEventListener('abort', () => {
            cancelled.push(request.id);
            clearTimeout(timer);
            setTimeout(resolve, opts.slowStop ?? 0);
          });
        });
        if (signal.aborted && !opts.finishAnyway) throw new TesseraError('aborted', 'stopped');
        post({ type: 'slept', id: request.id });
        return;
    }
  });
  const rpc = createRpcClient<Req, Res>({ connect: () => port1 as unknown as WorkerLike, parse: parseRes, name: 'the test server' });
  return {
    rpc,
    port1,
    port2,
    cancelled,
    close() {
      rpc.close(new TesseraError('session-closed', 'closed'));
      stop();
      port1.close();
      port2.close();
    },
  };
}

describe('createRpcClient', () => {
  it('matches replies to requests and rebuilds errors with their code', async () => {
    const { rpc, close } = setup();
    const [a, b] = await Promise.all([
      rpc.request<'echoed'>((id) => ({ type: 'echo', id, text: 'a' })),
      rpc.request<'echoed'>((id) => ({ type: 'echo', id, text: 'b' })),
    ]);
    expect([a.text, b.text]).toEqual(['a', 'b']);
    const err = await rpc.request<'echoed'>((id) => ({ type: 'echo', id, text: 'fail' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err).toMatchObject({ code: 'integrity-error', message: 'bad chunk', details: { chunk: 3 } });
    close();
  });

  it('delivers progress and chunks in order before the final reply', async () => {
    const { rpc, close } = setup();
    const progress: number[] = [];
    const chunks: number[] = [];
    const reply = await rpc.request<'counted'>((id) => ({ type: 'count', id, to: 4 }), {
      onProgress: (p) => progress.push(p.done),
      onChunk: (c) => chunks.push(c.n),
    });
    expect(reply.total).toBe(10);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(chunks).toEqual([1, 2, 3, 4]);
    close();
  });

  it('stream() yields every chunk, then its result', async () => {
    const { rpc, close } = setup();
    const stream = rpc.stream<'counted'>((id) => ({ type: 'count', id, to: 5 }));
    const seen: number[] = [];
    for await (const chunk of stream) seen.push(chunk.n);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect((await stream.result).total).toBe(15);
    close();
  });

  it('stream() ends its iteration with the request error', async () => {
    const { rpc, close } = setup();
    const stream = rpc.stream<'echoed'>((id) => ({ type: 'echo', id, text: 'fail' }));
    const iterate = async () => {
      for await (const _ of stream) void _;
    };
    await expect(iterate()).rejects.toMatchObject({ code: 'integrity-error' });
    await expect(stream.result).rejects.toMatchObject({ code: 'integrity-error' });
    close();
  });

  it('an abort sends cancel and rejects at once without a grace period', async () => {
    const { rpc, cancelled, close } = setup({ slowStop: 500 });
    const controller = new AbortController();
    const slow = rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 5000 }), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const started = performance.now();
    await expect(slow).rejects.toMatchObject({ code: 'aborted', message: 'slow was aborted' });
    expect(performance.now() - started).toBeLessThan(400);
    await new Promise((r) => setTimeout(r, 20));
    expect(cancelled).toHaveLength(1);
    close();
  });

  it('an already-aborted signal rejects before anything is sent', async () => {
    const { rpc, cancelled, close } = setup();
    const err = await rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 10 }), { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'aborted' });
    expect(cancelled).toEqual([]);
    close();
  });

  it('with graceMs, waits for the server to stop, and hands a reply that still came to onLateReply', async () => {
    const { rpc, close } = setup({ slowStop: 100, finishAnyway: true });
    const controller = new AbortController();
    const late: number[] = [];
    const slow = rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 5000 }), { signal: controller.signal, graceMs: 2000, onLateReply: (r) => late.push(r.id) });
    setTimeout(() => controller.abort(), 20);
    const started = performance.now();
    await expect(slow).rejects.toMatchObject({ code: 'aborted' });
    // Answered when the server stopped (~100 ms), not at the end of the grace period.
    expect(performance.now() - started).toBeGreaterThanOrEqual(80);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(late).toHaveLength(1);
    close();
  });

  it('past graceMs, answers aborted and still hands a late reply to onLateReply', async () => {
    const { rpc, close } = setup({ slowStop: 300, finishAnyway: true });
    const controller = new AbortController();
    const late: number[] = [];
    const slow = rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 5000 }), { signal: controller.signal, graceMs: 50, onLateReply: (r) => late.push(r.id) });
    setTimeout(() => controller.abort(), 10);
    await expect(slow).rejects.toMatchObject({ code: 'aborted' });
    expect(late).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(late).toHaveLength(1);
    close();
  });

  it('a reply it cannot read, or a server error with id -1, fails every waiter', async () => {
    const { rpc, port2, close } = setup();
    const a = rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 5000 }));
    await new Promise((r) => setTimeout(r, 10));
    port2.postMessage('garbage');
    await expect(a).rejects.toMatchObject({ code: 'bad-request' });
    const b = rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 5000 }));
    await new Promise((r) => setTimeout(r, 10));
    port2.postMessage({ type: 'error', id: -1, error: { name: 'TesseraError', code: 'internal', message: 'worker broke' } });
    await expect(b).rejects.toMatchObject({ code: 'internal', message: 'worker broke' });
    close();
  });

  it('a message the server cannot read is answered with bad-request', async () => {
    const { port1, port2, close } = setup();
    const reply = new Promise<unknown>((resolve) => port1.addEventListener('message', (e) => resolve(e.data), { once: true }));
    port1.start();
    port1.postMessage({ type: 'echo' });
    expect(await reply).toMatchObject({ type: 'error', id: -1, error: { code: 'bad-request' } });
    void port2;
    close();
  });

  it('close() fails what waits and refuses what comes after; what cannot be cloned is invalid-argument', async () => {
    const { rpc, close } = setup();
    const err = await rpc.request((id) => ({ type: 'echo', id, text: (() => 'x') as unknown as string })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid-argument', message: expect.stringContaining('cannot send echo to the test server') });
    const waiting = rpc.request<'slept'>((id) => ({ type: 'slow', id, ms: 5000 }));
    close();
    await expect(waiting).rejects.toMatchObject({ code: 'session-closed' });
  });
});
