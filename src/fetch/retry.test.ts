/** Retry with fakes: an injected random, an injected sleep that records its waits, and work that fails on cue. */
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../errors.ts';
import { abortableSleep, backoffDelay, DEFAULT_RETRY, isRetriable, withRetry } from './retry.ts';

const http = (status: number) => new TesseraError('http-error', `HTTP ${status}`, { details: { status } });

describe('isRetriable', () => {
  it('retries what a second try can fix, and nothing else', () => {
    for (const code of ['network-error', 'truncated-body', 'integrity-error', 'timeout'] as const) expect(isRetriable(new TesseraError(code, code)), code).toBe(true);
    for (const status of [500, 502, 503, 504, 408, 429]) expect(isRetriable(http(status)), String(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 416]) expect(isRetriable(http(status)), String(status)).toBe(false);
    expect(isRetriable(new TesseraError('http-error', 'no status'))).toBe(false);
    for (const code of ['etag-changed', 'aborted', 'quota-exceeded', 'invalid-manifest'] as const) expect(isRetriable(new TesseraError(code, code)), code).toBe(false);
    expect(isRetriable(new Error('plain'))).toBe(false);
    expect(isRetriable('string')).toBe(false);
  });
});

describe('backoffDelay', () => {
  it('is full jitter over min(max, base * 2^attempt)', () => {
    const opts = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, opts, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(400);
    expect(backoffDelay(3, opts, () => 0)).toBe(0);
  });
});

describe('withRetry', () => {
  const fakeSleep = () => {
    const waits: number[] = [];
    return { waits, sleep: async (ms: number) => void waits.push(ms) };
  };

  it('retries retriable failures with backoff, then succeeds', async () => {
    const { waits, sleep } = fakeSleep();
    const retried: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async (attempt) => {
        calls += 1;
        if (attempt < 2) throw http(503);
        return `ok on ${attempt}`;
      },
      { retry: { baseDelayMs: 10, maxDelayMs: 1000 }, random: () => 1, sleep, onRetry: (_e, a) => retried.push(a) },
    );
    expect(result).toBe('ok on 2');
    expect(calls).toBe(3);
    expect(retried).toEqual([0, 1]);
    expect(waits).toEqual([10, 20]);
  });

  it('gives up after `attempts` tries with the last error', async () => {
    const { waits, sleep } = fakeSleep();
    let calls = 0;
    const err = await withRetry(
      async () => {
        calls += 1;
        throw new TesseraError('network-error', `try ${calls}`);
      },
      { random: () => 1, sleep },
    ).catch((e: unknown) => e);
    expect(calls).toBe(DEFAULT_RETRY.attempts);
    expect(err).toMatchObject({ code: 'network-error', message: `try ${DEFAULT_RETRY.attempts}` });
    expect(waits).toEqual([250, 500, 1000]);
  });

  it('does not retry what cannot improve, nor after an abort', async () => {
    const { waits, sleep } = fakeSleep();
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls += 1;
        throw http(404);
      }, { sleep }),
    ).rejects.toMatchObject({ code: 'http-error' });
    expect(calls).toBe(1);
    const controller = new AbortController();
    await expect(
      withRetry(async () => {
        calls += 1;
        controller.abort();
        throw new TesseraError('network-error', 'cut');
      }, { sleep, signal: controller.signal }),
    ).rejects.toMatchObject({ code: 'network-error' });
    expect(calls).toBe(2);
    expect(waits).toEqual([]);
  });
});

describe('abortableSleep', () => {
  it('resolves after its time, rejects with aborted on abort, and removes its listener', async () => {
    await expect(abortableSleep(1)).resolves.toBeUndefined();
    await expect(abortableSleep(1000, AbortSignal.abort())).rejects.toMatchObject({ code: 'aborted' });
    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    }) as typeof remove;
    await abortableSleep(1, signal);
    expect(listeners).toBe(0);
    const started = performance.now();
    const sleeping = abortableSleep(10_000, signal);
    setTimeout(() => controller.abort(), 5);
    await expect(sleeping).rejects.toMatchObject({ code: 'aborted' });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
