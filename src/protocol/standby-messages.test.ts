import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { parseSessionMessage } from './coordinator-messages.ts';
import { decodeStandbyFrame, offersModel, parseDirectoryStandbyMessage, parseStandbySessionMessage } from './standby-messages.ts';

const offer = { type: 'standby', token: 't0k', device: 'cpu', budgetBytes: 64 * 1024 * 1024, models: 'all', serving: ['ocr'], loaded: [{ model: 'mlp', revision: 'r1', bytes: 3_000_000 }] };

function refused(parse: (v: unknown) => unknown, value: unknown, text: RegExp): void {
  let caught: unknown;
  try {
    parse(value);
  } catch (err) {
    caught = err;
  }
  expect(isTesseraError(caught, 'bad-request'), `expected bad-request for ${JSON.stringify(value)}`).toBe(true);
  expect((caught as Error).message).toMatch(text);
}

describe('standby session messages', () => {
  it('accepts every valid message', () => {
    expect(parseStandbySessionMessage(offer)).toEqual(offer);
    expect(parseStandbySessionMessage({ ...offer, models: ['a', 'b', 'a'], sessionId: 's1' })).toMatchObject({ models: ['a', 'b'], sessionId: 's1' });
    // serving and loaded are optional (a first offer from a session serving nothing).
    expect(parseStandbySessionMessage({ type: 'standby', token: 't', device: 'webgpu', budgetBytes: 1, models: ['m'] })).toMatchObject({ serving: [], loaded: [] });
    expect(parseStandbySessionMessage({ type: 'heartbeat' })).toEqual({ type: 'heartbeat' });
    expect(parseStandbySessionMessage({ type: 'leave', extra: 1 })).toEqual({ type: 'leave' });
    expect(parseStandbySessionMessage({ type: 'progress', model: 'm', loadedBytes: 0, totalBytes: 0 })).toEqual({ type: 'progress', model: 'm', loadedBytes: 0, totalBytes: 0 });
    expect(parseStandbySessionMessage({ type: 'ready', model: 'm', revision: 'r' })).toEqual({ type: 'ready', model: 'm', revision: 'r' });
    expect(parseStandbySessionMessage({ type: 'declined', model: 'm', reason: 'over budget' })).toEqual({ type: 'declined', model: 'm', reason: 'over budget' });
    expect(parseStandbySessionMessage({ type: 'unloaded', model: 'm' })).toEqual({ type: 'unloaded', model: 'm' });
    const failed = { type: 'failed', model: 'm', error: { name: 'TesseraError', code: 'quota-exceeded', message: 'no room', details: { neededBytes: 9 } } };
    expect(parseStandbySessionMessage(failed)).toEqual(failed);
  });

  it('names the wrong field', () => {
    const bad = (v: unknown, t: RegExp): void => refused(parseStandbySessionMessage, v, t);
    bad(null, /standby message must be an object/);
    bad({ type: 'offer' }, /unknown type "offer"/);
    bad({ ...offer, token: '' }, /"standby" message: "token" must be a non-empty string/);
    bad({ ...offer, budgetBytes: 0 }, /"budgetBytes" must be an integer >= 1/);
    bad({ ...offer, budgetBytes: 1.5 }, /"budgetBytes" must be an integer/);
    bad({ ...offer, models: 'some' }, /"models" \("all" or a list\) must be an array of model names/);
    bad({ ...offer, models: [] }, /"models" must be "all" or a non-empty list/);
    bad({ ...offer, serving: [3] }, /"serving" must be an array of model names/);
    bad({ ...offer, loaded: [{ model: 'm', revision: 'r' }] }, /loaded"\[0\]: missing field "bytes"/);
    bad({ type: 'progress', model: 'm', loadedBytes: 5, totalBytes: 4 }, /"loadedBytes" \(5\) exceeds "totalBytes" \(4\)/);
    bad({ type: 'progress', model: 'm', loadedBytes: -1, totalBytes: 4 }, /"loadedBytes" must be an integer >= 0/);
    bad({ type: 'ready', model: 'm' }, /"ready" message: missing field "revision"/);
    bad({ type: 'failed', model: 'm' }, /"failed" message: missing field "error"/);
    bad({ type: 'declined', model: 'm', reason: '' }, /"reason" must be a non-empty string/);
  });

  it('keeps an unknown error code from a session as internal', () => {
    const msg = parseStandbySessionMessage({ type: 'failed', model: 'm', error: { code: 'gpu-on-fire', message: 'x' } });
    expect(msg.type === 'failed' && msg.error.code).toBe('internal');
  });
});

describe('directory standby messages', () => {
  it('accepts every valid message', () => {
    expect(parseDirectoryStandbyMessage({ type: 'standing-by', sessionId: 's', leaseMs: 15000, heartbeatMs: 5000 })).toEqual({ type: 'standing-by', sessionId: 's', leaseMs: 15000, heartbeatMs: 5000 });
    expect(parseDirectoryStandbyMessage({ type: 'prewarm', model: 'm', revision: 'r', bytes: 10 })).toEqual({ type: 'prewarm', model: 'm', revision: 'r', bytes: 10 });
    expect(parseDirectoryStandbyMessage({ type: 'unload', model: 'm', reason: 'idle' })).toEqual({ type: 'unload', model: 'm', reason: 'idle' });
    expect(parseDirectoryStandbyMessage({ type: 'error', error: { code: 'unauthorized', message: 'no' } })).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('names the wrong field', () => {
    const bad = (v: unknown, t: RegExp): void => refused(parseDirectoryStandbyMessage, v, t);
    bad([], /directory message must be an object/);
    bad({ type: 'joined' }, /unknown type "joined"/);
    bad({ type: 'prewarm', model: 'm', revision: 'r', bytes: 0 }, /"bytes" must be an integer >= 1/);
    bad({ type: 'standing-by', sessionId: 's', leaseMs: 0, heartbeatMs: 1 }, /"leaseMs" must be a positive number/);
    bad({ type: 'unload', model: 'm' }, /missing field "reason"/);
  });
});

describe('standby frames', () => {
  it('reads text and binary JSON, refuses anything else', () => {
    expect(decodeStandbyFrame('{"type":"heartbeat"}')).toEqual({ type: 'heartbeat' });
    expect(decodeStandbyFrame(new TextEncoder().encode('{"type":"leave"}'))).toEqual({ type: 'leave' });
    refused((v) => decodeStandbyFrame(v as string), '{nope', /not valid JSON/);
  });

  it('tells whether a model is offered', () => {
    expect(offersModel('all', 'x')).toBe(true);
    expect(offersModel(['a'], 'a')).toBe(true);
    expect(offersModel(['a'], 'b')).toBe(false);
  });
});

describe('the prewarmed mark on a pool join', () => {
  const join = { type: 'join', token: 't', models: [], device: 'cpu', capacity: { maxInFlight: 1, requestsPerSecond: 1 } };
  it('is optional and must be a boolean', () => {
    expect(parseSessionMessage(join)).not.toHaveProperty('prewarmed');
    expect(parseSessionMessage({ ...join, prewarmed: true })).toMatchObject({ prewarmed: true });
    refused(parseSessionMessage, { ...join, prewarmed: 'yes' }, /"prewarmed" must be true or false/);
  });
});
