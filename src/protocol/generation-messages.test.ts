import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../errors.ts';
import { decodeMessage, encodeMessage, parseCoordinatorMessage, parseSessionMessage, type CoordinatorMessage, type SessionMessage } from './coordinator-messages.ts';

const bad = (parse: (v: unknown) => unknown, value: unknown, text: RegExp): void => {
  let thrown: unknown;
  try {
    parse(value);
  } catch (err) {
    thrown = err;
  }
  expect(isTesseraError(thrown, 'bad-request'), `expected bad-request for ${JSON.stringify(value)}`).toBe(true);
  expect((thrown as Error).message).toMatch(text);
};

describe('generation messages', () => {
  it('round-trips generate, chunk and done through binary frames, keeping only known fields', () => {
    const generate: CoordinatorMessage = {
      type: 'generate', requestId: 'g1', model: 'llm',
      request: { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }], maxNewTokens: 8, temperature: 0.5, topK: 4, topP: 0.9, seed: 3, stop: ['\n'], repetitionPenalty: 1.1 },
    };
    expect(parseCoordinatorMessage(decodeMessage(encodeMessage(generate)))).toEqual(generate);
    const chunk: SessionMessage = { type: 'chunk', requestId: 'g1', chunk: { text: 'He', tokenIds: [5, 6] }, sessionMs: 12.5 };
    expect(parseSessionMessage(decodeMessage(encodeMessage(chunk)))).toEqual(chunk);
    const done: SessionMessage = { type: 'done', requestId: 'g1', result: { text: 'Hello', finishReason: 'stop', promptTokens: 4, completionTokens: 2, timeToFirstTokenMs: 12, totalMs: 30 } };
    expect(parseSessionMessage(decodeMessage(encodeMessage(done)))).toEqual(done);
    const extra = parseCoordinatorMessage({ type: 'generate', requestId: 'g', model: 'm', request: { prompt: 'p', evil: 1 } });
    expect(extra).toEqual({ type: 'generate', requestId: 'g', model: 'm', request: { prompt: 'p' } });
  });

  it('names the wrong field of a generation message', () => {
    const c = parseCoordinatorMessage;
    const s = parseSessionMessage;
    bad(c, { type: 'generate', requestId: 'g', model: 'm', request: {} }, /needs "prompt" or a non-empty "messages"/);
    bad(c, { type: 'generate', requestId: 'g', model: 'm', request: { prompt: 'p', messages: [] } }, /not both/);
    bad(c, { type: 'generate', requestId: 'g', model: 'm', request: { messages: [{ role: 'tool', content: 'x' }] } }, /messages\[0\]: "role"/);
    bad(c, { type: 'generate', requestId: 'g', model: 'm', request: { prompt: 'p', maxNewTokens: 0 } }, /"maxNewTokens" must be an integer >= 1/);
    bad(c, { type: 'generate', requestId: 'g', model: 'm', request: { prompt: 'p', topP: 1.5 } }, /"topP"/);
    bad(c, { type: 'generate', requestId: 'g', model: 'm', request: { prompt: 'p', stop: [''] } }, /"stop"/);
    bad(s, { type: 'chunk', requestId: 'g', chunk: { text: 1, tokenIds: [] } }, /chunk: "text" must be a string/);
    bad(s, { type: 'chunk', requestId: 'g', chunk: { text: 'a', tokenIds: [-1] } }, /"tokenIds"/);
    bad(s, { type: 'chunk', requestId: 'g', chunk: { text: 'a', tokenIds: [] }, sessionMs: -2 }, /"sessionMs"/);
    bad(s, { type: 'done', requestId: 'g', result: { text: '', finishReason: 'eos', promptTokens: 1, completionTokens: 1 } }, /"finishReason"/);
    bad(s, { type: 'done', requestId: 'g', result: { text: '', finishReason: 'stop', promptTokens: 1.5, completionTokens: 1 } }, /"promptTokens"/);
    bad(s, { type: 'done', result: {} }, /missing field "requestId"/);
  });

  it('checks the text-generation fields of an offer', () => {
    const join = (offer: Record<string, unknown>) => ({ type: 'join', token: 't', device: 'cpu', capacity: { maxInFlight: 1, requestsPerSecond: 1 }, models: [{ name: 'llm', revision: 'r', maxBatch: 1, ...offer }] });
    const ok = parseSessionMessage(join({ task: 'text-generation', contextLength: 2048, maxNewTokens: 512, maxTokenBytes: 16 }));
    expect(ok.type === 'join' && ok.models[0]).toEqual({ name: 'llm', revision: 'r', maxBatch: 1, task: 'text-generation', contextLength: 2048, maxNewTokens: 512, maxTokenBytes: 16 });
    bad(parseSessionMessage, join({ task: 'text-generation' }), /missing field "contextLength"/);
    bad(parseSessionMessage, join({ task: 'summarise', contextLength: 2 }), /unknown "task"/);
  });
});
