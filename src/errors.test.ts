import { describe, expect, it } from 'vitest';
import { ERROR_CODES, TesseraError, fromErrorData, fromErrorResponse, isErrorCode, isTesseraError, statusOf, toErrorData } from './errors.ts';

describe('errors', () => {
  it('round-trips every code through its wire form', () => {
    for (const code of ERROR_CODES) {
      const rebuilt = fromErrorData(JSON.parse(JSON.stringify(toErrorData(new TesseraError(code, `a ${code}`, { details: { n: 1 } })))));
      expect(rebuilt).toBeInstanceOf(TesseraError);
      expect(rebuilt).toMatchObject({ name: 'TesseraError', code, message: `a ${code}`, details: { n: 1 } });
    }
  });

  it('does not trust a code it does not know: it becomes internal, naming it', () => {
    expect(isErrorCode('integrity-error')).toBe(true);
    expect(isErrorCode('teapot')).toBe(false);
    expect(isErrorCode(42)).toBe(false);
    const err = fromErrorData({ name: 'TesseraError', code: 'teapot', message: 'short and stout' });
    expect(err).toMatchObject({ code: 'internal', message: 'unknown error code "teapot": short and stout', details: { code: 'teapot' } });
    expect(fromErrorData({ code: 'not-found' })).toMatchObject({ code: 'not-found', message: 'an error without a message' });
  });

  it('statusOf gives one status per code, and a 502 for a session failing behind the coordinator', () => {
    for (const code of ERROR_CODES) {
      expect(statusOf(code)).toBeGreaterThanOrEqual(400);
      expect(statusOf(code)).toBeLessThan(600);
    }
    expect(statusOf('not-found')).toBe(404);
    expect(statusOf('invalid-manifest')).toBe(400);
    expect(statusOf('payload-too-large')).toBe(413);
    expect(statusOf('rate-limited')).toBe(429);
    expect(statusOf('internal')).toBe(500);
    // Through the coordinator: what describes the request or the pool keeps its status...
    expect(statusOf('bad-request', 'session')).toBe(400);
    expect(statusOf('rate-limited', 'session')).toBe(429);
    expect(statusOf('session-closed', 'session')).toBe(503);
    expect(statusOf('timeout', 'session')).toBe(504);
    expect(statusOf('backend-error', 'session')).toBe(500);
    // ...anything else is the session failing.
    expect(statusOf('integrity-error', 'session')).toBe(502);
    expect(statusOf('not-found', 'session')).toBe(502);
    expect(statusOf('internal', 'session')).toBe(502);
  });

  it('fromErrorResponse rebuilds an HTTP error body, and calls anything else http-error', async () => {
    const body = { error: { name: 'TesseraError', code: 'invalid-manifest', message: 'files[0].role is wrong', details: { at: 'files[0]' } } };
    const err = await fromErrorResponse(new Response(JSON.stringify(body), { status: 400 }), '/admin/models/m/revisions');
    expect(isTesseraError(err, 'invalid-manifest')).toBe(true);
    expect(err.message).toBe('files[0].role is wrong (HTTP 400 from /admin/models/m/revisions)');
    expect(err.details).toEqual({ status: 400, at: 'files[0]' });
    const plain = await fromErrorResponse(new Response('<html>bad gateway</html>', { status: 502 }), '/x');
    expect(plain).toMatchObject({ code: 'http-error', message: 'HTTP 502 from /x: <html>bad gateway</html>', details: { status: 502 } });
    const foreign = await fromErrorResponse(new Response(JSON.stringify({ error: { code: 'E_WHAT', message: 'no' } }), { status: 418 }), '/y');
    expect(foreign).toMatchObject({ code: 'internal', details: { status: 418, code: 'E_WHAT' } });
  });
});
