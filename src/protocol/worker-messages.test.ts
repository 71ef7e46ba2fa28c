import { describe, expect, it } from 'vitest';
import { TesseraError, fromErrorData, toErrorData } from '../errors.ts';
import { parseWorkerRequest, parseWorkerResponse } from './worker-messages.ts';

const x = { type: 'float32', dims: [1, 2], data: new Float32Array(2) };

describe('parseWorkerRequest', () => {
  it('accepts each well-formed request', () => {
    const good = [
      { type: 'load', id: 1, source: 'http://h/m/manifest.json', device: 'auto', cache: { type: 'indexeddb', prefix: 't' }, progress: true },
      { type: 'run', id: 2, model: 'mlp#1', feeds: { x } },
      { type: 'dispose', id: 3, model: 'mlp#1' },
      { type: 'cancel', id: 2 },
    ];
    for (const msg of good) {
      const parsed = parseWorkerRequest(msg);
      expect(parsed).toEqual(msg);
      expect(parsed).not.toBe(msg); // built, not cast
    }
  });

  it('builds fresh objects: fields it does not know do not ride along', () => {
    const parsed = parseWorkerRequest({ type: 'load', id: 1, source: 'u', device: 'auto', cache: { type: 'memory', extra: 1 }, progress: true, evil: 'yes' });
    expect(parsed).toEqual({ type: 'load', id: 1, source: 'u', device: 'auto', cache: { type: 'memory' }, progress: true });
    const recognize = parseWorkerRequest({ type: 'recognize', id: 2, pipeline: 'p', image: new Uint8Array(1), options: { classify: true, nope: 1 } });
    expect(recognize).toEqual({ type: 'recognize', id: 2, pipeline: 'p', image: new Uint8Array(1), options: { classify: true } });
    expect(() => parseWorkerRequest({ type: 'recognize', id: 2, pipeline: 'p', image: new Uint8Array(1), options: { dropScore: 'high' } })).toThrow(/dropScore must be a number/);
  });

  it('rejects malformed requests with bad-request saying what is wrong', () => {
    const bad: [unknown, RegExp][] = [
      [null, /must be an object/],
      [{ id: 1 }, /needs a string type/],
      [{ type: 'run', model: 'm', feeds: {} }, /run needs an integer id/],
      [{ type: 'launch', id: 1 }, /unknown request type "launch"/],
      [{ type: 'load', id: 1, source: 'u', device: 'tpu', cache: { type: 'memory' } }, /device must be one of auto, webgpu, wasm, cpu, cuda, dml, coreml, got "tpu"/],
      [{ type: 'load', id: 1, source: 'u', device: 'auto', cache: { type: 'redis' } }, /cache must be/],
      [{ type: 'load', id: 1, source: 42, device: 'auto', cache: { type: 'memory' } }, /source must be/],
      [{ type: 'load', id: 1, source: 'u', device: 'auto', cache: { type: 'memory' }, prepack: 'no' }, /load.prepack must be a boolean/],
      [{ type: 'load', id: 1, source: 'u', device: 'auto', cache: { type: 'memory' }, weights: 'stream' }, /load.weights must be auto or copy, got "stream"/],
      [{ type: 'dispose', id: 1 }, /dispose.model must be a string/],
    ];
    for (const [msg, message] of bad) {
      expect(() => parseWorkerRequest(msg)).toThrow(expect.objectContaining({ code: 'bad-request', message: expect.stringMatching(message) }));
    }
    // Tensor problems keep the tensor's own error.
    expect(() => parseWorkerRequest({ type: 'run', id: 1, model: 'm', feeds: { x: { ...x, dims: [3] } } })).toThrow(
      expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(/tensor "x"/) }),
    );
  });
});

describe('parseWorkerResponse', () => {
  it('accepts replies and rejects malformed ones', () => {
    expect(parseWorkerResponse({ type: 'result', id: 1, outputs: { y: x } }).type).toBe('result');
    expect(parseWorkerResponse({ type: 'disposed', id: 1 }).type).toBe('disposed');
    expect(() => parseWorkerResponse({ type: 'loaded', id: 1, model: {} })).toThrow(/loaded.model must describe/);
    const model = { id: 'm#1', manifest: { name: 'm', revision: 'r', files: [] }, device: 'wasm', deviceReason: 'wasm: requested', inputNames: ['x'], outputNames: ['y'], inputMetadata: [], weights: 'streamed', weightsReason: 'streamed: JSPI build reads initializers from the chunk Blobs' };
    expect(parseWorkerResponse({ type: 'loaded', id: 1, model })).toMatchObject({ type: 'loaded', model: { weights: 'streamed', weightsReason: model.weightsReason } });
    expect(() => parseWorkerResponse({ type: 'loaded', id: 1, model: { ...model, weights: 'mmap' } })).toThrow(/must say how its weights were loaded/);
    expect(() => parseWorkerResponse({ type: 'loaded', id: 1, model: { ...model, weightsReason: undefined } })).toThrow(/must say how its weights were loaded/);
    expect(() => parseWorkerResponse({ type: 'error', id: 1, error: 'boom' })).toThrow(/ErrorData/);
    expect(() => parseWorkerResponse({ type: 'result', id: 1, outputs: { y: { ...x, type: 'float8' } } })).toThrow(/unknown type/);
    const progress = { phase: 'download', bytesDone: 1, bytesTotal: 2, bytesFromCache: 0, bytesFromNetwork: 1, rateBytesPerSec: 5, etaSeconds: 1, files: { a: { bytesDone: 1, bytesTotal: 2 } }, rangeFallbackFiles: [], done: false };
    expect(parseWorkerResponse({ type: 'progress', id: 1, progress: { ...progress, junk: true } })).toEqual({ type: 'progress', id: 1, progress });
    expect(() => parseWorkerResponse({ type: 'progress', id: 1, progress: { ...progress, phase: 'warp' } })).toThrow(/phase must be/);
    expect(() => parseWorkerResponse({ type: 'pipeline-loaded', id: 1, pipeline: { id: 'p', kind: 'ocr', device: 'tpu', deviceReason: '', manifest: {} } })).toThrow(/device must be one of webgpu, wasm, cpu/);
    expect(() => parseWorkerResponse({ type: 'recognized', id: 1, result: { text: 'a', lines: [{ text: 'a', box: [[0]], score: 1 }], timings: { detMs: 1, clsMs: 1, recMs: 1 } } })).toThrow(/lines\[0\]/);
  });
});

describe('errors across the boundary', () => {
  it('keep code, message and details through structured clone', () => {
    const original = new TesseraError('integrity-error', 'chunk 3 of model.onnx.data failed its SHA-256 check', { details: { file: 'model.onnx.data', chunk: 3 } });
    const wire = parseWorkerResponse(structuredClone({ type: 'error', id: 7, error: toErrorData(original) }));
    if (wire.type !== 'error') throw new Error('expected an error');
    const rebuilt = fromErrorData(wire.error);
    expect(rebuilt).toBeInstanceOf(TesseraError);
    expect(rebuilt).toMatchObject({ code: 'integrity-error', message: original.message, details: { file: 'model.onnx.data', chunk: 3 } });
  });

  it('a plain Error becomes internal, an AbortError aborted', () => {
    expect(toErrorData(new Error('boom'))).toEqual({ name: 'TesseraError', code: 'internal', message: 'boom' });
    expect(toErrorData(new DOMException('stop', 'AbortError')).code).toBe('aborted');
  });
});

describe('generation messages', () => {
  const manifest = { name: 'llm', revision: 'r1', files: [] };
  const info = { id: 'llm#1', manifest, device: 'wasm', deviceReason: 'wasm: requested', modelType: 'llama', contextLength: 128, dtype: 'fp32', graph: 'onnx/model.onnx' };

  it('accepts well-formed generation requests and replies, built rather than cast', () => {
    const requests = [
      { type: 'load-generator', id: 1, source: 'http://h/llm/manifest.json', device: 'wasm', cache: { type: 'memory' }, progress: false, dtype: 'q4' },
      { type: 'load-generator', id: 1, source: 'http://h/llm/manifest.json', device: 'auto', cache: { type: 'indexeddb' }, baseUrl: 'http://h/', progress: true, prepack: false },
      { type: 'generate', id: 2, generator: 'llm#1', request: { prompt: 'hi', maxNewTokens: 4 } },
      {
        type: 'generate', id: 2, generator: 'llm#1',
        request: { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }], maxNewTokens: 8, temperature: 0.7, topK: 5, topP: 0.9, seed: 42, stop: ['\n'], repetitionPenalty: 1.2 },
      },
      { type: 'count-tokens', id: 3, generator: 'llm#1', input: [{ role: 'user', content: 'hi' }] },
      { type: 'count-tokens', id: 3, generator: 'llm#1', input: 'a prompt' },
    ];
    for (const msg of requests) {
      const parsed = parseWorkerRequest(structuredClone(msg));
      expect(parsed).toEqual(msg);
    }
    const replies = [
      { type: 'generator-loaded', id: 1, generator: info },
      { type: 'generator-loaded', id: 1, generator: { ...info, maxTokenBytes: 12 } },
      { type: 'chunk', id: 2, chunk: { text: 'a', tokenIds: [7] } },
      { type: 'generated', id: 2, result: { text: 'a', finishReason: 'length', promptTokens: 2, completionTokens: 1 } },
      { type: 'generated', id: 2, result: { text: '', finishReason: 'abort', promptTokens: 2, completionTokens: 0, timeToFirstTokenMs: 3.5, totalMs: 9 } },
      { type: 'token-count', id: 3, count: 9 },
    ];
    for (const msg of replies) {
      const parsed = parseWorkerResponse(msg);
      expect(parsed).toEqual(msg);
      expect(parsed).not.toBe(msg);
    }
  });

  it('builds fresh objects: fields it does not know do not ride along', () => {
    expect(parseWorkerRequest({ type: 'generate', id: 2, generator: 'g', request: { prompt: 'p', evil: 1 }, extra: true })).toEqual({ type: 'generate', id: 2, generator: 'g', request: { prompt: 'p' } });
    expect(parseWorkerRequest({ type: 'count-tokens', id: 3, generator: 'g', input: [{ role: 'user', content: 'x', name: 'bob' }] })).toEqual({ type: 'count-tokens', id: 3, generator: 'g', input: [{ role: 'user', content: 'x' }] });
    // The worker client sends a model load's fields; a decoder load checks but does not keep `weights`.
    expect(parseWorkerRequest({ type: 'load-generator', id: 1, source: 'u', device: 'wasm', cache: { type: 'memory' }, progress: false, weights: 'copy', junk: 1 })).toEqual({ type: 'load-generator', id: 1, source: 'u', device: 'wasm', cache: { type: 'memory' }, progress: false });
    const messages = [{ role: 'user', content: 'hi' }];
    const parsed = parseWorkerRequest({ type: 'generate', id: 2, generator: 'g', request: { messages } });
    expect(parsed.type === 'generate' && 'messages' in parsed.request && parsed.request.messages).not.toBe(messages);
    // Empty stop strings are ignored, as the in-process loop ignores them.
    expect(parseWorkerRequest({ type: 'generate', id: 2, generator: 'g', request: { prompt: 'p', stop: ['', 'END'] } })).toEqual({ type: 'generate', id: 2, generator: 'g', request: { prompt: 'p', stop: ['END'] } });
    expect(parseWorkerResponse({ type: 'generator-loaded', id: 1, generator: { ...info, secret: 'x' } })).toEqual({ type: 'generator-loaded', id: 1, generator: info });
    expect(parseWorkerResponse({ type: 'chunk', id: 2, chunk: { text: 'a', tokenIds: [7], logits: [0.1] } })).toEqual({ type: 'chunk', id: 2, chunk: { text: 'a', tokenIds: [7] } });
  });

  it('rejects malformed envelopes and replies with bad-request naming the field', () => {
    const bad: [unknown, RegExp, 'req' | 'res'][] = [
      [{ type: 'load-generator', id: 1, source: 'u', device: 'wasm', cache: { type: 'memory' }, dtype: 'int3' }, /dtype must be one of fp32, fp16, q8, q4/, 'req'],
      [{ type: 'load-generator', id: 1, source: 'u', device: 'tpu', cache: { type: 'memory' } }, /load-generator.device must be one of/, 'req'],
      [{ type: 'load-generator', id: 1, source: 'u', device: 'wasm', cache: { type: 'redis' } }, /load-generator.cache must be/, 'req'],
      [{ type: 'load-generator', id: 1, source: 'u', device: 'wasm', cache: { type: 'memory' }, weights: 'mmap' }, /load-generator.weights must be auto or copy/, 'req'],
      [{ type: 'generate', id: 1, generator: 'g' }, /generate.request must be an object/, 'req'],
      [{ type: 'generate', id: 1, generator: 'g', request: [] }, /generate.request must be an object/, 'req'],
      [{ type: 'generate', id: 1, request: { prompt: 'p' } }, /generate.generator must be a string/, 'req'],
      [{ type: 'count-tokens', id: 1, generator: 'g', input: 5 }, /count-tokens.input must be/, 'req'],
      [{ type: 'count-tokens', id: 1, input: 'p' }, /count-tokens.generator must be a string/, 'req'],
      [{ type: 'generator-loaded', id: 1, generator: {} }, /generator-loaded.generator must describe the generator/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, device: 'tpu' } }, /generator-loaded.generator.device must be one of/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, contextLength: 0 } }, /contextLength must be an integer >= 1, got 0/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, maxTokenBytes: 0 } }, /maxTokenBytes must be an integer >= 1 when present, got 0/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, dtype: 'int3' } }, /generator-loaded.generator.dtype must be one of/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, graph: 7 } }, /graph must be/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, modelType: undefined } }, /modelType must be a string/, 'res'],
      [{ type: 'generator-loaded', id: 1, generator: { ...info, manifest: { name: 'x' } } }, /generator-loaded.generator.manifest must be a pack manifest/, 'res'],
      [{ type: 'chunk', id: 1, chunk: { text: 3 } }, /chunk.chunk: "text" must be a string/, 'res'],
      [{ type: 'chunk', id: 1, chunk: { text: 'a', tokenIds: [-1] } }, /chunk.chunk: "tokenIds" must be an array of integers >= 0/, 'res'],
      [{ type: 'chunk', id: 1 }, /chunk.chunk must be an object/, 'res'],
      [{ type: 'generated', id: 1, result: {} }, /generated.result: "text" must be a string/, 'res'],
      [{ type: 'generated', id: 1, result: { text: 'a', finishReason: 'eos', promptTokens: 1, completionTokens: 1 } }, /"finishReason" must be stop, length or abort/, 'res'],
      [{ type: 'generated', id: 1, result: { text: 'a', finishReason: 'stop', promptTokens: 1 } }, /"completionTokens" must be an integer >= 0/, 'res'],
      [{ type: 'token-count', id: 1, count: 'x' }, /token-count.count must be an integer >= 0, got "x"/, 'res'],
      [{ type: 'token-count', id: 1, count: -2 }, /token-count.count must be an integer >= 0/, 'res'],
    ];
    for (const [msg, message, side] of bad) {
      const parse = side === 'req' ? parseWorkerRequest : parseWorkerResponse;
      expect(() => parse(msg), JSON.stringify(msg)).toThrow(expect.objectContaining({ code: 'bad-request', message: expect.stringMatching(message) }));
    }
  });

  it("rejects a wrong generate request or chat message as the caller's invalid-argument, naming the field", () => {
    const wrong: [unknown, RegExp][] = [
      [{ type: 'generate', id: 1, generator: 'g', request: {} }, /generate.request: needs "prompt" or a non-empty "messages"/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 'p', messages: [] } }, /not both/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 3 } }, /"prompt" must be a string/],
      [{ type: 'generate', id: 1, generator: 'g', request: { messages: [{ role: 'tool', content: 'x' }] } }, /messages\[0\]: "role" must be system, user or assistant/],
      [{ type: 'generate', id: 1, generator: 'g', request: { messages: [{ role: 'user' }] } }, /messages\[0\]: "content" must be a string/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 'p', maxNewTokens: 0 } }, /"maxNewTokens" must be an integer >= 1/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 'p', temperature: -1 } }, /"temperature" must be a number >= 0/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 'p', topP: 1.5 } }, /"topP" must be a number in \(0, 1\]/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 'p', seed: 0.5 } }, /"seed" must be an integer/],
      [{ type: 'generate', id: 1, generator: 'g', request: { prompt: 'p', stop: [3] } }, /"stop" must be an array of non-empty strings/],
      [{ type: 'count-tokens', id: 1, generator: 'g', input: [] }, /count-tokens.input: needs "prompt" or a non-empty "messages"/],
      [{ type: 'count-tokens', id: 1, generator: 'g', input: [{ role: 'robot', content: 'x' }] }, /count-tokens.input: messages\[0\]: "role"/],
    ];
    for (const [msg, message] of wrong) {
      expect(() => parseWorkerRequest(msg), JSON.stringify(msg)).toThrow(expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(message) }));
    }
  });
});
