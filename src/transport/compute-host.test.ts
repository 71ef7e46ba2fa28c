/**
 * The compute host's rules with fake workers (the real child process is
 * exercised against wrangler dev in test/e2e/serve-native-wrangler.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import { startComputeHost, type HostedWorker, type ServedModel } from './compute-host.ts';

/** A worker whose model answers after `ms` from the input's first value; `hang` never answers. */
function fakeWorkers() {
  const spawned: { terminated: boolean; exit?: (why: string) => void }[] = [];
  const spawn = (): HostedWorker => {
    const state: { terminated: boolean; exit?: (why: string) => void } = { terminated: false };
    spawned.push(state);
    return {
      engine: {} as Engine,
      terminate: async () => void (state.terminated = true),
      onExit: (listener) => void (state.exit = listener),
    };
  };
  const load = async (): Promise<Map<string, ServedModel>> => new Map([['m', {
    device: 'cpu', deviceReason: 'cpu: fake',
    offer: { name: 'm', revision: 'r', maxBatch: 1 },
    run: (inputs: TensorMap) => new Promise<TensorMap>((resolve) => {
      const ms = (inputs.x?.data as Float32Array)[0] as number;
      if (ms >= 0) setTimeout(() => resolve(inputs), ms);
    }),
  }]]);
  return { spawned, spawn, load };
}
const x = (ms: number): TensorMap => ({ x: { type: 'float32', dims: [1, 1], data: Float32Array.of(ms) } });
const signal = new AbortController().signal;

describe('startComputeHost', () => {
  it('a batch past the compute timeout fails with timeout; its neighbours fail with unavailable; a fresh worker serves the next', async () => {
    const { spawned, spawn, load } = fakeWorkers();
    const events: string[] = [];
    const host = await startComputeHost({ spawn, load, computeTimeoutMs: 50, onEvent: (e) => events.push(e.type) });
    expect(await host.run('m', x(1), signal)).toEqual(x(1));
    const stuck = host.run('m', x(-1), signal);
    const neighbour = host.run('m', x(500), signal);
    await expect(stuck).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/longer than 50 ms.*--compute-timeout/) });
    await expect(neighbour).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/not at fault, retry/) });
    expect(spawned[0]!.terminated).toBe(true);
    expect(host.restarts).toBe(1);
    expect(await host.run('m', x(1), signal)).toEqual(x(1));
    expect(spawned).toHaveLength(2);
    expect(events).toEqual(['ready', 'restarting', 'ready']);
    // A request's own deadline shortens the limit, never lengthens it.
    await expect(host.run('m', x(-1), signal, 10)).rejects.toMatchObject({ code: 'timeout', details: { computeTimeoutMs: 10 } });
    await host.close();
    expect(spawned.every((w) => w.terminated)).toBe(true);
  });

  it('a worker that dies by itself is replaced; unknown models are not-found', async () => {
    const { spawned, spawn, load } = fakeWorkers();
    const host = await startComputeHost({ spawn, load, computeTimeoutMs: 1000 });
    const running = host.run('m', x(-1), signal);
    await new Promise((resolve) => setTimeout(resolve, 5)); // running on the first worker
    spawned[0]!.exit?.('the engine process exited (SIGSEGV)');
    await expect(running).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/SIGSEGV/) });
    expect(await host.run('m', x(1), signal)).toEqual(x(1));
    await expect(host.run('other', x(1), signal)).rejects.toMatchObject({ code: 'not-found' });
    await host.close();
    await expect(host.run('m', x(1), signal)).rejects.toMatchObject({ code: 'session-closed' });
  });
});

describe('startComputeHost: generation', () => {
  it('a generation may run long while it produces; one that stops producing for the compute timeout fails and its worker is replaced', async () => {
    const spawned: { terminated: boolean }[] = [];
    const spawn = (): HostedWorker => {
      const state = { terminated: false };
      spawned.push(state);
      return { engine: {} as Engine, terminate: async () => void (state.terminated = true), onExit: () => undefined };
    };
    // `steps` chunks 20 ms apart; a negative prompt length hangs after the first chunk.
    const load = async (): Promise<Map<string, ServedModel>> => new Map([['llm', {
      device: 'cpu', deviceReason: 'cpu: fake', offer: { name: 'llm', revision: 'r', maxBatch: 1, task: 'text-generation', contextLength: 64 },
      run: () => Promise.reject(new Error('not an infer model')),
      generate: async (request, onChunk) => {
        const steps = request.maxNewTokens ?? 1;
        const hang = 'prompt' in request && request.prompt === 'hang';
        for (let i = 0; i < steps; i++) {
          await new Promise((r) => setTimeout(r, 20));
          onChunk({ text: 'a', tokenIds: [1] });
          if (hang) await new Promise(() => undefined);
        }
        return { text: 'a'.repeat(steps), finishReason: 'length', promptTokens: 1, completionTokens: steps };
      },
    }]]);
    const host = await startComputeHost({ spawn, load, computeTimeoutMs: 60 });
    const chunks: string[] = [];
    // 10 steps x 20 ms = 200 ms, well past the 60 ms limit, but never 60 ms without a chunk.
    const long = await host.generate('llm', { prompt: 'go', maxNewTokens: 10 }, (c) => chunks.push(c.text), signal);
    expect(long).toMatchObject({ completionTokens: 10, finishReason: 'length' });
    expect(chunks).toHaveLength(10);
    await expect(host.generate('llm', { prompt: 'hang', maxNewTokens: 5 }, () => undefined, signal)).rejects.toMatchObject({ code: 'timeout' });
    expect(spawned[0]!.terminated).toBe(true);
    expect(host.restarts).toBe(1);
    await expect(host.generate('nope', { prompt: 'x' }, () => undefined, signal)).rejects.toMatchObject({ code: 'not-found' });
    await host.close();
  });
});
