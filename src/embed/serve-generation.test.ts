/**
 * A tab serving text generation, with a fake socket and a fake generator
 * (the real session client and generation runner in between): the offer it
 * joins with, chunks framed as they are produced, a cancel that stops the
 * generator, failures answered with error frames, too-long prompts refused
 * before any step. The real thing (Chromium tab, wrangler dev, the openai
 * client) is test/e2e/tab-serve-chat.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { bufferOf, fakeWebSocketClass, type FakeWebSocket } from '../../test/helpers/fake-websocket.ts';
import { generationStream } from '../engine/generate/generation-stream.ts';
import { TesseraError } from '../errors.ts';
import { decodeMessage, encodeMessage, parseSessionMessage, type CoordinatorMessage, type SessionMessage } from '../protocol/coordinator-messages.ts';
import type { GenerateChunk, GenerateRequest } from '../protocol/generation.ts';
import type { RunnableGenerator } from '../transport/generation-runner.ts';
import type { WebSocketConstructor } from '../transport/session-client.ts';
import { serveGeneration } from './serve-generation.ts';

const FakeSocket = fakeWebSocketClass({
  decode: (d) => parseSessionMessage(decodeMessage(d as Uint8Array)),
  encode: (msg: CoordinatorMessage) => bufferOf(encodeMessage(msg)),
});
type FakeSocket = FakeWebSocket<CoordinatorMessage, SessionMessage>;

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Emits the given pieces one per `stepMs`, checking the signal before each like the real loop. */
function fakeGenerator(pieces: string[], options: { stepMs?: number; promptTokens?: number; fail?: TesseraError } = {}) {
  const seen: { requests: GenerateRequest[]; aborted: boolean[] } = { requests: [], aborted: [] };
  const generator: RunnableGenerator = {
    countTokens: async () => options.promptTokens ?? 3,
    generate: (request, call) => {
      seen.requests.push(request);
      return generationStream(async (emit, signal) => {
        let n = 0;
        for (const text of pieces) {
          if (signal.aborted) {
            seen.aborted.push(true);
            return { text: '', finishReason: 'abort', promptTokens: 3, completionTokens: n };
          }
          if (options.fail && n === 1) throw options.fail;
          emit({ text, tokenIds: [n] } satisfies GenerateChunk);
          n += 1;
          await tick(options.stepMs ?? 0);
        }
        return { text: pieces.join(''), finishReason: 'length', promptTokens: 3, completionTokens: n };
      }, call);
    },
  };
  return { generator, seen };
}

async function serving(generator: RunnableGenerator, served: { n: number } = { n: 0 }) {
  const session = await serveGeneration({
    host: 'http://worker.test',
    token: 'join',
    manifest: { name: 'tiny-llama', revision: 'rev1' },
    contextLength: 8,
    maxTokenBytes: 13,
    device: 'wasm',
    generator,
    onServed: () => (served.n += 1),
    WebSocket: FakeSocket as unknown as WebSocketConstructor,
  });
  await tick();
  const socket = FakeSocket.last!;
  socket.receive({ type: 'joined', sessionId: 's1', leaseMs: 120_000, heartbeatMs: 60_000 });
  await session.joined();
  return { session, socket };
}

const framesFor = (socket: FakeSocket, requestId: string) =>
  socket.sent.filter((m) => 'requestId' in m ? m.requestId === requestId : 'requestIds' in m && m.requestIds.includes(requestId));

describe('serveGeneration', () => {
  it("joins with a text-generation offer: the model's context and its tokenizer's longest token", async () => {
    const { session, socket } = await serving(fakeGenerator([]).generator);
    // One socket, to the model's own pool.
    expect(socket.url).toBe('ws://worker.test/v1/sessions?model=tiny-llama');
    expect(socket.sent[0]).toEqual({
      type: 'join', token: 'join', device: 'wasm', capacity: { maxInFlight: 1, requestsPerSecond: 1 }, sessionId: expect.any(String),
      models: [{ name: 'tiny-llama', revision: 'rev1', maxBatch: 1, task: 'text-generation', contextLength: 8, maxTokenBytes: 13 }],
    });
    await session.close();
  });

  it('frames each chunk as it is produced (none with empty text), then done', async () => {
    const { generator, seen } = fakeGenerator(['He', '', 'llo'], { stepMs: 5 });
    const served = { n: 0 };
    const { session, socket } = await serving(generator, served);
    socket.receive({ type: 'generate', requestId: 'g1', model: 'tiny-llama', request: { messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 3 } });
    await tick(2);
    // The first chunk is out while the generator is still running.
    expect(framesFor(socket, 'g1').map((m) => m.type)).toEqual(['chunk']);
    await expect.poll(() => framesFor(socket, 'g1').at(-1)?.type).toBe('done');
    const frames = framesFor(socket, 'g1');
    expect(frames.map((m) => m.type === 'chunk' ? m.chunk.text : m.type)).toEqual(['He', 'llo', 'done']);
    expect(frames[0]).toMatchObject({ sessionMs: expect.any(Number) });
    expect(frames.at(-1)).toEqual({ type: 'done', requestId: 'g1', result: { text: 'Hello', finishReason: 'length', promptTokens: 3, completionTokens: 3 } });
    expect(seen.requests).toEqual([{ messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 3 }]);
    expect(served.n).toBe(1);
    await session.close();
  });

  it("a cancel from the coordinator stops the generator and sends no done; the session serves the next request", async () => {
    const { generator, seen } = fakeGenerator(['a', 'b', 'c', 'd', 'e', 'f'], { stepMs: 20 });
    const served = { n: 0 };
    const { session, socket } = await serving(generator, served);
    socket.receive({ type: 'generate', requestId: 'g2', model: 'tiny-llama', request: { prompt: 'x' } });
    await expect.poll(() => framesFor(socket, 'g2').length).toBeGreaterThan(0);
    socket.receive({ type: 'cancel', requestIds: ['g2'] });
    await expect.poll(() => seen.aborted).toEqual([true]);
    await tick(30);
    const frames = framesFor(socket, 'g2');
    expect(frames.every((m) => m.type === 'chunk')).toBe(true);
    expect(frames.length).toBeLessThan(6);
    expect(served.n).toBe(0);
    expect(session.running).toBe(0);
    socket.receive({ type: 'generate', requestId: 'g3', model: 'tiny-llama', request: { prompt: 'y' } });
    await expect.poll(() => framesFor(socket, 'g3').at(-1)?.type, { timeout: 2000 }).toBe('done');
    await session.close();
  });

  it('answers a failing generation, a too-long prompt and another model with error frames that keep their code', async () => {
    const { generator, seen } = fakeGenerator(['a', 'b', 'c'], { fail: new TesseraError('backend-error', 'the decoder step failed') });
    const { session, socket } = await serving(generator);
    socket.receive({ type: 'generate', requestId: 'g4', model: 'tiny-llama', request: { prompt: 'x' } });
    await expect.poll(() => framesFor(socket, 'g4').at(-1)?.type).toBe('error');
    expect(framesFor(socket, 'g4').map((m) => m.type)).toEqual(['chunk', 'error']);
    expect(framesFor(socket, 'g4').at(-1)).toMatchObject({ type: 'error', requestIds: ['g4'], error: { name: 'TesseraError', code: 'backend-error', message: 'the decoder step failed' } });
    await session.close();

    const long = fakeGenerator(['a'], { promptTokens: 8 });
    const second = await serving(long.generator);
    second.socket.receive({ type: 'generate', requestId: 'g5', model: 'tiny-llama', request: { prompt: 'a very long prompt' } });
    second.socket.receive({ type: 'generate', requestId: 'g6', model: 'other-llm', request: { prompt: 'x' } });
    await expect.poll(() => framesFor(second.socket, 'g5').length + framesFor(second.socket, 'g6').length).toBe(2);
    expect(framesFor(second.socket, 'g5')).toEqual([{ type: 'error', requestIds: ['g5'], error: expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(/the prompt has 8 tokens; model "tiny-llama" has a context of 8/) }) }]);
    expect(framesFor(second.socket, 'g6')).toEqual([{ type: 'error', requestIds: ['g6'], error: expect.objectContaining({ code: 'not-found', message: expect.stringMatching(/serves "tiny-llama", not "other-llm"/) }) }]);
    expect(long.seen.requests).toEqual([]); // refused before any step ran
    expect(seen.requests).toHaveLength(1);
    await second.session.close();
  });
});
