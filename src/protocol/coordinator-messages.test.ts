import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { decodeMessage, encodeMessage, parseCoordinatorMessage, parseSessionMessage, type SessionMessage } from './coordinator-messages.ts';

const join = {
  type: 'join', token: 't0k', models: [{ name: 'ocr', revision: 'r1', maxBatch: 4 }], device: 'webgpu',
  capacity: { maxInFlight: 2, requestsPerSecond: 20 },
};

function badField(value: unknown, text: RegExp): void {
  try {
    parseSessionMessage(value);
  } catch (err) {
    expect(isTesseraError(err, 'bad-request')).toBe(true);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected bad-request');
}

describe('session messages', () => {
  it('accepts every valid session message', () => {
    expect(parseSessionMessage(join)).toEqual(join);
    expect(parseSessionMessage({ ...join, sessionId: 's1' }).type).toBe('join');
    expect(parseSessionMessage({ type: 'heartbeat' })).toEqual({ type: 'heartbeat' });
    expect(parseSessionMessage({ type: 'leave', extra: 1 })).toEqual({ type: 'leave' });
    expect(parseSessionMessage({ type: 'models', models: [] })).toEqual({ type: 'models', models: [] });
    const err = { type: 'error', requestIds: ['a'], error: { name: 'TesseraError', code: 'backend-error', message: 'boom' } };
    expect(parseSessionMessage(err)).toEqual(err);
  });

  it('names the wrong field', () => {
    badField(null, /session message must be an object/);
    badField({ type: 'hello' }, /unknown type "hello"/);
    badField({ ...join, token: '' }, /"join" message: "token" must be a non-empty string/);
    badField({ ...join, models: [{ name: 'ocr', revision: 'r1', maxBatch: 0 }] }, /models\[0\]: "maxBatch" must be a positive integer/);
    badField({ ...join, capacity: { maxInFlight: 1 } }, /capacity: missing field "requestsPerSecond"/);
    badField({ type: 'result', requestIds: [], outputs: {} }, /"requestIds" must be a non-empty array/);
    badField({ type: 'result', requestIds: ['a'], outputs: { y: { type: 'float32', dims: [2], data: [1, 2] } } }, /outputs\.y: .*Float32Array/);
    badField({ type: 'error', requestIds: ['a'] }, /missing field "error"/);
    badField({ type: 'result', requestIds: ['a'], outputs: {}, computeMs: -1 }, /"computeMs" must be a number >= 0/);
    badField({ type: 'result', requestIds: ['a'], outputs: {}, computeMs: '3' }, /"computeMs" must be a number >= 0/);
  });

  it('maps an unknown error code from a session to internal', () => {
    const msg = parseSessionMessage({ type: 'error', requestIds: ['a'], error: { code: 'gpu-on-fire', message: 'x' } });
    expect(msg.type === 'error' && msg.error.code).toBe('internal');
  });

  it('round-trips a result with tensors through one binary frame', () => {
    const msg: SessionMessage = {
      type: 'result', requestIds: ['a', 'b'], computeMs: 20.125,
      outputs: { y: { type: 'float32', dims: [2, 2], data: new Float32Array([1, 2, 3, 4]) }, ids: { type: 'int64', dims: [2], data: new BigInt64Array([7n, 8n]) } },
    };
    const bytes = encodeMessage(msg);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(parseSessionMessage(decodeMessage(bytes))).toEqual(msg);
  });

  it('round-trips an infer message for the session side', () => {
    const msg = { type: 'infer' as const, requestIds: ['a'], model: 'm', batchSizes: [1], inputs: { x: { type: 'uint8' as const, dims: [1], data: new Uint8Array([9]) } } };
    expect(parseCoordinatorMessage(decodeMessage(encodeMessage(msg)))).toEqual(msg);
    expect(() => parseCoordinatorMessage({ ...msg, batchSizes: [1, 2] })).toThrow(/one non-negative integer per request id/);
  });

  it('accepts control messages as JSON text and rejects bad text', () => {
    expect(parseSessionMessage(decodeMessage(JSON.stringify(join)))).toEqual(join);
    expect(parseSessionMessage(decodeMessage(encodeMessage({ type: 'heartbeat' })))).toEqual({ type: 'heartbeat' });
    expect(() => decodeMessage('{nope')).toThrow(/not valid JSON/);
  });
});
