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
  it('accepts well-formed generation requests and replies', () => {
    const requests = [
      { type: 'load-generator', id: 1, source: 'http://h/llm/manifest.json', device: 'wasm', cache: { type: 'memory' }, progress: false, dtype: 'q4' },
      { type: 'generate', id: 2, generator: 'llm#1', request: { prompt: 'hi', maxNewTokens: 4 } },
      { type: 'count-tokens', id: 3, generator: 'llm#1', input: [{ role: 'user', content: 'hi' }] },
    ];
    for (const msg of requests) expect(parseWorkerRequest(msg)).toBe(msg);
    const replies = [
      { type: 'chunk', id: 2, chunk: { text: 'a', tokenIds: [7] } },
      { type: 'generated', id: 2, result: { text: 'a', finishReason: 'length', promptTokens: 2, completionTokens: 1 } },
      { type: 'token-count', id: 3, count: 9 },
    ];
    for (const msg of replies) expect(parseWorkerResponse(msg)).toBe(msg);
  });

  it('rejects malformed ones with bad-request', () => {
    const bad: [unknown, RegExp, 'req' | 'res'][] = [
      [{ type: 'load-generator', id: 1, source: 'u', device: 'wasm', cache: { type: 'memory' }, dtype: 'int3' }, /dtype must be one of fp32, fp16, q8, q4/, 'req'],
      [{ type: 'generate', id: 1, generator: 'g' }, /generate.request must be an object/, 'req'],
      [{ type: 'count-tokens', id: 1, generator: 'g', input: 5 }, /count-tokens.input must be/, 'req'],
      [{ type: 'chunk', id: 1, chunk: { text: 3 } }, /chunk.chunk must be/, 'res'],
      [{ type: 'generated', id: 1, result: {} }, /generated.result must be/, 'res'],
      [{ type: 'token-count', id: 1, count: 'x' }, /token-count.count must be an integer/, 'res'],
    ];
    for (const [msg, message, side] of bad) {
      const parse = side === 'req' ? parseWorkerRequest : parseWorkerResponse;
      expect(() => parse(msg)).toThrow(expect.objectContaining({ code: 'bad-request', message: expect.stringMatching(message) }));
    }
  });
});
