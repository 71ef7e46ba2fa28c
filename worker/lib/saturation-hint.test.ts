import { describe, expect, it } from 'vitest';
import { HttpError } from '../http-error.ts';
import { createSaturationHints, HINT_REASON, MAX_HOLD_MS, refusalOf } from './saturation-hint.ts';

const poolRefusal = (retryAfter: number, reason = 'deadline') =>
  new HttpError(429, 'rate-limited', 'full', { headers: { 'Retry-After': String(retryAfter) }, details: { retryAfterSeconds: retryAfter, reason, queued: 170, ratePerSecond: 5.3 } });

function setup(maxModels?: number) {
  let now = 10_000;
  const hints = createSaturationHints({ clock: () => now, ...(maxModels ? { maxModels } : {}) });
  return { hints, advance: (ms: number) => (now += ms) };
}

describe('saturation hints', () => {
  it('refuses at once after a pool refusal, with the same 429 shape, Retry-After and the pool\'s details', () => {
    const { hints, advance } = setup();
    expect(hints.refusal('ocr')).toBeUndefined();
    hints.refused('ocr', refusalOf(poolRefusal(17))!);
    advance(120);
    const err = hints.refusal('ocr')!;
    expect(err).toBeInstanceOf(HttpError);
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate-limited');
    expect(err.headers['Retry-After']).toBe('1');
    expect(err.details).toMatchObject({ reason: HINT_REASON, poolReason: 'deadline', retryAfterSeconds: 1, waitedMs: 0, hintAgeMs: 120, queued: 170, ratePerSecond: 5.3 });
    expect(err.message).toMatch(/model "ocr" is saturated: its pool refused a request 120 ms ago \(deadline\); retry in 1 s/);
    expect(() => hints.check('ocr')).toThrow(err.message);
    const body = err.getResponse();
    expect(body.status).toBe(429);
    expect(body.headers.get('Retry-After')).toBe('1');
  });

  it('expires after the pool\'s Retry-After, and never holds longer than MAX_HOLD_MS', () => {
    const { hints, advance } = setup();
    // Retry-After 30 s: held for MAX_HOLD_MS only.
    hints.refused('a', { retryAfterSeconds: 30 });
    advance(MAX_HOLD_MS - 1);
    expect(hints.refusal('a')).toBeDefined();
    advance(1);
    expect(hints.refusal('a')).toBeUndefined();
    expect(hints.size).toBe(0);

    const short = createSaturationHints({ clock: () => 0, maxHoldMs: 5_000 });
    short.refused('b', { retryAfterSeconds: 2 });
    expect(short.refusal('b')!.headers['Retry-After']).toBe('2');
    const late = createSaturationHints({ clock: (() => { let t = 0; return () => (t += 1999); })(), maxHoldMs: 5_000 });
    late.refused('c', { retryAfterSeconds: 2 }); // set at 1999, until 3999
    expect(late.refusal('c')).toBeDefined(); // 3998
    expect(late.refusal('c')).toBeUndefined(); // 5997
  });

  it('is cleared by any admitted answer of that model, and is per model', () => {
    const { hints } = setup();
    hints.refused('a', { retryAfterSeconds: 5 });
    hints.refused('b', { retryAfterSeconds: 5 });
    hints.admitted('a');
    expect(hints.refusal('a')).toBeUndefined();
    expect(hints.refusal('b')).toBeDefined();
    expect(hints.refusal('c')).toBeUndefined();
  });

  it('learns from calls through it: a pool 429 sets, a result or another error clears, a hint\'s own 429 never extends itself', async () => {
    const { hints, advance } = setup();
    // Calls made before the pool said full, answered after it.
    let answer!: (v: string) => void;
    let fail!: (e: unknown) => void;
    const result = hints.through('m', () => new Promise<string>((r) => (answer = r)));
    const timedOut = hints.through('m', () => new Promise<string>((_, f) => (fail = f)));
    await expect(hints.through('m', () => Promise.reject(poolRefusal(3)))).rejects.toMatchObject({ status: 429 });
    expect(hints.refusal('m')).toBeDefined();
    answer('ok');
    await expect(result).resolves.toBe('ok');
    expect(hints.refusal('m')).toBeUndefined();

    await expect(hints.through('m', () => Promise.reject(poolRefusal(3)))).rejects.toThrow();
    fail(new HttpError(504, 'timeout', 'late'));
    await expect(timedOut).rejects.toMatchObject({ status: 504 });
    expect(hints.refusal('m')).toBeUndefined();

    await expect(hints.through('m', () => Promise.reject(poolRefusal(3)))).rejects.toThrow();
    // A call while the hint holds is refused without being made (the body was read, the pool round trip is saved).
    let calls = 0;
    await expect(hints.through('m', async () => ++calls)).rejects.toMatchObject({ status: 429, details: { reason: HINT_REASON } });
    expect(calls).toBe(0);
    advance(600);
    const own = hints.refusal('m')!;
    expect(refusalOf(own)).toBeUndefined();
    // A hint's own 429 passing through (a route that rethrows it) neither extends nor clears the live hint...
    await expect(hints.learn('m', () => Promise.reject(own))).rejects.toBe(own);
    expect(hints.refusal('m')?.details.hintAgeMs).toBe(600);
    // ...nor sets one.
    hints.admitted('m');
    await expect(hints.learn('m', () => Promise.reject(own))).rejects.toBe(own);
    expect(hints.refusal('m')).toBeUndefined();
    // learn() runs a call while the hint holds (the pool already has that request) and learns from it.
    await expect(hints.through('m', () => Promise.reject(poolRefusal(3)))).rejects.toThrow();
    await expect(hints.learn('m', async () => 'first token')).resolves.toBe('first token');
    expect(hints.refusal('m')).toBeUndefined();
    hints.refused('m', { retryAfterSeconds: 1 });
    advance(1000);
    expect(hints.refusal('m')).toBeUndefined();
  });

  it('ignores a refusal with no wait, and reads Retry-After from details when the header is missing', () => {
    const { hints } = setup();
    hints.refused('z', { retryAfterSeconds: 0 });
    expect(hints.refusal('z')).toBeUndefined();
    expect(refusalOf(new HttpError(429, 'rate-limited', 'x', { details: { retryAfterSeconds: 4 } }))!.retryAfterSeconds).toBe(4);
    expect(refusalOf(new HttpError(429, 'rate-limited', 'x'))!.retryAfterSeconds).toBe(1);
    expect(refusalOf(new HttpError(503, 'unavailable', 'x'))).toBeUndefined();
    expect(refusalOf(new Error('x'))).toBeUndefined();
  });

  it('keeps at most maxModels hints, dropping expired ones first, then the oldest', () => {
    const { hints, advance } = setup(3);
    hints.refused('old', { retryAfterSeconds: 1 });
    advance(100);
    hints.refused('a', { retryAfterSeconds: 1 });
    hints.refused('b', { retryAfterSeconds: 1 });
    hints.refused('c', { retryAfterSeconds: 1 }); // full: 'old' (the oldest) goes
    expect(hints.size).toBe(3);
    expect(hints.refusal('old')).toBeUndefined();
    expect(['a', 'b', 'c'].every((m) => hints.refusal(m))).toBe(true);
    hints.refused('a', { retryAfterSeconds: 1 }); // refreshed: now the newest
    hints.refused('d', { retryAfterSeconds: 1 });
    expect(hints.refusal('b')).toBeUndefined();
    expect(['a', 'c', 'd'].every((m) => hints.refusal(m))).toBe(true);
    advance(MAX_HOLD_MS);
    hints.refused('e', { retryAfterSeconds: 1 }); // every other hint expired: swept, not counted
    expect(hints.size).toBe(1);
    for (let i = 0; i < 10_000; i++) hints.refused(`m${i}`, { retryAfterSeconds: 1 });
    expect(hints.size).toBe(3);
  });
});
