/**
 * The worker transport end to end in Node: the client on one end of a real
 * MessageChannel, `serveEngine` with the real in-process engine on the other
 * (structured clone and transfer behave as between a page and its worker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, readExpected, type Expected, type Fixtures } from '../../test/helpers/fixtures.ts';
import { startRangeServer, type RangeServer } from '../../test/helpers/range-server.ts';
import { createInProcessEngine } from '../engine/in-process-engine.ts';
import { serveEngine } from './serve-engine.ts';
import type { PortLike } from './rpc-server.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import { createWorkerEngine, type WorkerLike } from './worker-client.ts';

let fixtures: Fixtures;
let server: RangeServer;
let expected: Expected;

beforeAll(async () => {
  fixtures = await buildFixtures();
  server = await startRangeServer({ root: fixtures.root });
  expected = await readExpected(fixtures.packs.mlp);
});
afterAll(() => server?.close());

function channelEngine() {
  const { port1, port2 } = new MessageChannel();
  const stop = serveEngine(createInProcessEngine(), port2 as unknown as PortLike);
  const engine = createWorkerEngine({ worker: port1 as unknown as WorkerLike });
  return {
    engine,
    async close() {
      await engine.dispose();
      stop();
      port2.close();
    },
  };
}

/**
 * An engine whose "workers" are MessageChannels, each served by a fresh
 * in-process engine (as a fresh Worker would be), recording every start and end.
 */
function spawningEngine(options: { restartWhenIdle?: boolean } = {}) {
  const started: { ended: boolean }[] = [];
  const spawn = (): WorkerLike => {
    const { port1, port2 } = new MessageChannel();
    const stop = serveEngine(createInProcessEngine(), port2 as unknown as PortLike);
    const record = { ended: false };
    started.push(record);
    const port = port1 as unknown as WorkerLike;
    return {
      postMessage: (message, transfer) => port.postMessage(message, transfer),
      addEventListener: (type, listener) => port.addEventListener(type, listener),
      removeEventListener: (type, listener) => port.removeEventListener(type, listener),
      start: () => port.start?.(),
      terminate: () => {
        record.ended = true;
        stop();
        port1.close();
        port2.close();
      },
    };
  };
  return { engine: createWorkerEngine({ spawn, ...options }), started };
}

const feeds = (): TensorMap =>
  Object.fromEntries(Object.entries(expected.inputs).map(([n, t]) => [n, { type: 'float32' as const, dims: t.dims, data: Float32Array.from(t.data) }]));

describe('worker transport over a MessageChannel', () => {
  it('loads with progress, runs, and keeps error codes across the boundary', async () => {
    const { engine, close } = channelEngine();
    const events: LoadProgress[] = [];
    const model = await engine.load(`${server.url}/mlp/manifest.json`, { device: 'auto', cache: { type: 'memory' }, onProgress: (p) => events.push(p) });
    expect(model).toMatchObject({ device: 'wasm', deviceReason: 'wasm: navigator.gpu missing', inputNames: ['input'] });
    expect(events.at(-1)).toMatchObject({ phase: 'session', done: true });

    const input = feeds();
    const outputs = await model.run(input);
    const want = expected.outputs.output!;
    expect(outputs.output!.dims).toEqual(want.dims);
    want.data.forEach((w, i) => expect(Math.abs((outputs.output!.data[i] as number) - w)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(w))));
    // Copied by default: the caller's input is intact.
    expect(input.input!.data.length).toBe(want.dims.reduce((a, b) => a * b, 1));

    const err = await model.run({ wrong: input.input! }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TesseraError', code: 'invalid-argument', message: expect.stringContaining('unknown input "wrong"') });
    expect((err as Error).constructor.name).toBe('TesseraError');

    // transfer: true moves the input's buffer to the worker.
    const moved = feeds();
    await model.run(moved, { transfer: true });
    expect(moved.input!.data.length).toBe(0);

    await model.dispose();
    await expect(model.run(feeds())).rejects.toMatchObject({ code: 'session-closed' });
    await close();
  });

  it('an abort rejects at once with aborted and the engine keeps working', async () => {
    const { engine, close } = channelEngine();
    const controller = new AbortController();
    server.setFaults([{ type: 'delay', ms: 2000 }]);
    const loading = engine.load(`${server.url}/block/manifest.json`, { cache: { type: 'memory' }, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    await expect(loading).rejects.toMatchObject({ code: 'aborted' });
    expect(performance.now() - started).toBeLessThan(1500);
    server.setFaults([]);
    const model = await engine.load(`${server.url}/mlp/manifest.json`, { cache: { type: 'memory' } });
    expect((await model.run(feeds())).output!.dims).toEqual(expected.outputs.output!.dims);
    await close();
  });

  it('a ModelCache object is refused with a message saying what to pass', async () => {
    const { engine, close } = channelEngine();
    const { createMemoryCache } = await import('../cache/memory-cache.ts');
    await expect(engine.load(`${server.url}/mlp/manifest.json`, { cache: createMemoryCache() })).rejects.toMatchObject({
      code: 'invalid-argument',
      message: expect.stringContaining("transport 'in-process'"),
    });
    await close();
  });

  it('after dispose the engine refuses new loads', async () => {
    const { engine, close } = channelEngine();
    await close();
    await expect(engine.load(`${server.url}/mlp/manifest.json`)).rejects.toMatchObject({ code: 'session-closed' });
  });

  it("ends its own worker when the last model is disposed, and the next load starts a fresh one that works", async () => {
    const { engine, started } = spawningEngine();
    const url = `${server.url}/mlp/manifest.json`;
    const a = await engine.load(url, { cache: { type: 'memory' } });
    const b = await engine.load(url, { cache: { type: 'memory' } });
    expect(started).toEqual([{ ended: false }]);
    await a.dispose();
    expect(started).toEqual([{ ended: false }]); // b still lives there
    await b.dispose();
    expect(started).toEqual([{ ended: true }]);

    const c = await engine.load(url, { cache: { type: 'memory' } });
    expect(started).toEqual([{ ended: true }, { ended: false }]);
    const want = expected.outputs.output!;
    const out = (await c.run(feeds())).output!;
    want.data.forEach((w, i) => expect(Math.abs((out.data[i] as number) - w)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(w))));
    // A handle from the ended worker stays closed; it does not reach the new one.
    await expect(a.run(feeds())).rejects.toMatchObject({ code: 'session-closed' });
    await engine.dispose();
    expect(started.map((w) => w.ended)).toEqual([true, true]);
  });

  it('keeps the worker while a load is in flight, and never ends one handed in or when told not to', async () => {
    const { engine, started } = spawningEngine();
    const url = `${server.url}/mlp/manifest.json`;
    const first = await engine.load(url, { cache: { type: 'memory' } });
    server.setFaults([{ type: 'delay', ms: 300 }]);
    const loading = engine.load(url, { cache: { type: 'memory' } });
    await first.dispose(); // the second load has no handle yet: the worker must stay
    server.setFaults([]);
    const second = await loading;
    expect(started).toEqual([{ ended: false }]);
    expect((await second.run(feeds())).output!.dims).toEqual(expected.outputs.output!.dims);
    await second.dispose();
    expect(started).toEqual([{ ended: true }]);
    await engine.dispose();

    const kept = spawningEngine({ restartWhenIdle: false });
    await (await kept.engine.load(url, { cache: { type: 'memory' } })).dispose();
    expect(kept.started).toEqual([{ ended: false }]);
    await kept.engine.dispose();
    expect(kept.started).toEqual([{ ended: true }]);

    const { engine: handedIn, close } = channelEngine();
    const model = await handedIn.load(url, { cache: { type: 'memory' } });
    await model.dispose();
    // The handed-in port still answers: a load after the last dispose works on it.
    expect((await (await handedIn.load(url, { cache: { type: 'memory' } })).run(feeds())).output!.dims).toEqual(expected.outputs.output!.dims);
    await close();
  });
});
