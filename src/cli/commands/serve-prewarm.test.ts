import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isTesseraError, TesseraError } from '../../errors.ts';
import type { LoadProgress } from '../../fetch/progress.ts';
import { nodePrewarmLoader, parsePrewarmBudget, parsePrewarmFlag, standbyEventLine, type PrewarmServeOptions } from './serve-prewarm.ts';

const base: PrewarmServeOptions = { coordinator: 'http://127.0.0.1:1', joinToken: 't', models: ['ocr'], onEvent: () => undefined };

describe('serve --prewarm flags', () => {
  it('parses the model list and the budget', () => {
    expect(parsePrewarmFlag('all')).toBe('all');
    expect(parsePrewarmFlag(' ALL ')).toBe('all');
    expect(parsePrewarmFlag('mlp, ocr,mlp')).toEqual(['mlp', 'ocr']);
    expect(() => parsePrewarmFlag(' , ')).toThrow(/names no model/);
    expect(parsePrewarmBudget('64MiB')).toBe(64 * 1024 * 1024);
    expect(parsePrewarmBudget('1GB')).toBe(1e9);
    expect(() => parsePrewarmBudget(undefined)).toThrow(/--prewarm needs --prewarm-budget/);
    expect(() => parsePrewarmBudget('lots')).toThrow(/--prewarm-budget "lots" is not a size/);
  });

  it('refuses the flags in the wrong combinations, before connecting anywhere', async () => {
    const run = promisify(execFile);
    const cli = async (...args: string[]): Promise<string> => {
      try {
        await run(process.execPath, [resolve('bin/tessera.js'), 'serve', '--coordinator', 'http://127.0.0.1:1', '--join-token', 't', ...args], { timeout: 30_000 });
        return '';
      } catch (error) {
        return (error as { stderr?: string }).stderr ?? '';
      }
    };
    expect(await cli('--prewarm', 'all')).toMatch(/--prewarm needs --prewarm-budget/);
    expect(await cli('--models', 'a', '--prewarm-budget', '1MiB')).toMatch(/--prewarm-budget needs --prewarm/);
    expect(await cli()).toMatch(/--models needs at least one model name \(or pass --prewarm/);
    expect(await cli('--prewarm', 'all', '--prewarm-budget', '1MiB', '--simulate-ms', '5')).toMatch(/cannot be combined with --simulate-ms/);
  }, 60_000);
});

describe('nodePrewarmLoader', () => {
  it('serves the asked model at the asked revision, marked prewarmed, reporting progress, and closes it on unload', async () => {
    const calls: (PrewarmServeOptions & { signal?: AbortSignal })[] = [];
    let closed = 0;
    const load = nodePrewarmLoader(base, async (o) => {
      calls.push(o);
      o.onProgress?.('mlp', { bytesDone: 5, bytesTotal: 10 } as LoadProgress);
      return { joined: async () => 'p1', close: async () => void (closed += 1) };
    });
    const progress: [number, number][] = [];
    const controller = new AbortController();
    const model = await load({ model: 'mlp', revision: 'r7', bytes: 10, onProgress: (a, b) => progress.push([a, b]), signal: controller.signal });
    expect(calls[0]).toMatchObject({ models: ['mlp'], revisions: { mlp: 'r7' }, prewarmed: true, coordinator: base.coordinator, joinToken: 't' });
    // The base session's event printer is not reused for the prewarmed one.
    expect(calls[0]).not.toHaveProperty('onEvent');
    expect(progress).toEqual([[5, 10]]);
    controller.abort();
    expect(calls[0]!.signal?.aborted).toBe(true);
    await model.close();
    expect(closed).toBe(1);
  });

  it('closes a session that loaded but could not join, and passes the error on', async () => {
    let closed = 0;
    const load = nodePrewarmLoader(base, async () => ({ joined: async () => Promise.reject(new TesseraError('unauthorized', 'bad token')), close: async () => void (closed += 1) }));
    const err = await load({ model: 'mlp', revision: 'r', bytes: 1, onProgress: () => undefined, signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(isTesseraError(err, 'unauthorized')).toBe(true);
    expect(closed).toBe(1);
  });

  it('prints each standby event as one line', () => {
    expect(standbyEventLine({ type: 'standing-by', sessionId: 'sb' }, 64 * 1024 * 1024)).toBe('offering to load models on request (budget 64.0 MiB) as standby sb');
    expect(standbyEventLine({ type: 'ready', model: 'mlp', loadMs: 812 }, 1)).toBe('prewarm: mlp loaded in 812 ms and joined its pool');
    expect(standbyEventLine({ type: 'failed', model: 'mlp', error: new TesseraError('quota-exceeded', 'full') }, 1)).toBe('prewarm: mlp failed: quota-exceeded: full');
  });
});
