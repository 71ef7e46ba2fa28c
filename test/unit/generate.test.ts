/**
 * Text generation in Node, in-process engine over a packed tiny LLaMA-style
 * decoder: greedy output equals the onnxruntime-node reference loop token for
 * token, and the loop's controls (chat template, sampling seed, stop strings,
 * EOS, max tokens, abort, repetition penalty, context length) do what they say.
 */
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTextTokenizer, type TextTokenizer } from '../../src/backend/hf-tokenizer.ts';
import { fileFetch } from '../../src/cli/file-fetch.ts';
import { isTesseraError } from '../../src/errors.ts';
import type { Engine, TextGenerator } from '../../src/engine/engine.ts';
import { createInProcessEngine } from '../../src/engine/in-process-engine.ts';
import { packModel } from '../../src/pack/pack-model.ts';
import type { GenerateChunk, GenerateRequest } from '../../src/protocol/generation.ts';
import { writeLlamaFixture, type LlamaFixture } from '../helpers/llama-fixture.ts';
import { referenceGreedy } from '../helpers/reference-decoder.ts';
import { readFile } from 'node:fs/promises';
import { serveEngine } from '../../src/transport/serve-engine.ts';
import type { PortLike } from '../../src/transport/rpc-server.ts';
import { createWorkerEngine, type WorkerLike } from '../../src/transport/worker-client.ts';
import { startRangeServer } from '../helpers/range-server.ts';
import { startHfServer } from '../helpers/hf-server.ts';
import { maxTokenBytes } from '../../src/engine/generate/max-token-bytes.ts';

let fx: LlamaFixture;
let engine: Engine;
let llm: TextGenerator;
let tokenizer: TextTokenizer;
let tokenizerJson: unknown;
const url = (packDir: string) => pathToFileURL(join(packDir, 'manifest.json')).href;
const load = { fetch: fileFetch, cache: { type: 'memory' as const }, device: 'wasm' as const };

beforeAll(async () => {
  fx = await writeLlamaFixture();
  engine = createInProcessEngine();
  llm = await engine.loadGenerator(url(fx.packDir), load);
  const json = async (name: string) => JSON.parse(await readFile(join(fx.dir, name), 'utf8'));
  tokenizerJson = await json('tokenizer.json');
  tokenizer = createTextTokenizer({ tokenizerJson, tokenizerConfig: await json('tokenizer_config.json') });
});

afterAll(async () => {
  await engine?.dispose();
  await fx?.close();
});

async function collect(request: GenerateRequest, options: Parameters<TextGenerator['generate']>[1] = {}) {
  const chunks: GenerateChunk[] = [];
  const stream = llm.generate(request, options);
  for await (const chunk of stream) chunks.push(chunk);
  const result = await stream.result;
  return { chunks, result, ids: chunks.flatMap((c) => c.tokenIds), text: chunks.map((c) => c.text).join('') };
}

describe('engine.loadGenerator (in-process, Node)', () => {
  it('describes the model', () => {
    expect(llm.modelType).toBe('llama');
    expect(llm.contextLength).toBe(256);
    expect(llm.dtype).toBe('fp32');
    expect(llm.graph).toBe('onnx/model.onnx');
    expect(llm.device).toBe('wasm');
    // The offer's early prompt bound, from the tokenizer.json the generator parsed (no second read).
    expect(llm.maxTokenBytes).toBe(maxTokenBytes(tokenizerJson));
    expect(llm.maxTokenBytes).toBeGreaterThan(1);
  });

  it('greedy output equals the onnxruntime-node reference loop token for token', async () => {
    const prompt = 'hello world, the cat sat on the mat';
    const promptIds = tokenizer.encode(prompt);
    expect(promptIds[0]).toBe(0); // BOS from the post-processor
    const { ids, result, text } = await collect({ prompt, maxNewTokens: 24 });
    const eos = [1, 5];
    const want = await referenceGreedy(fx.modelPath, promptIds, { maxNewTokens: 24, eosTokenIds: eos, ...fx.dims });
    const got = result.finishReason === 'stop' ? [...ids, want[want.length - 1] as number] : ids;
    expect(got).toEqual(want);
    expect(result.promptTokens).toBe(promptIds.length);
    expect(result.completionTokens).toBe(want.length);
    expect(result.text).toBe(text);
    expect(text).toBe(tokenizer.decode(ids));
    expect(result.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(result.totalMs).toBeGreaterThanOrEqual(result.timeToFirstTokenMs as number);
  });

  it('applies the chat template to messages, and countTokens counts what generate feeds', async () => {
    const messages = [{ role: 'system' as const, content: 'be brief' }, { role: 'user' as const, content: 'tell me a story' }];
    const rendered = tokenizer.applyChatTemplate(messages);
    expect(rendered).toBe('<s><|system|>\nbe brief<|end|>\n<|user|>\ntell me a story<|end|>\n<|assistant|>\n');
    const promptIds = tokenizer.encode(rendered, { addSpecialTokens: false });
    expect(promptIds.filter((id) => id === 0)).toHaveLength(1); // one BOS: the template's, none added
    expect(await llm.countTokens(messages)).toBe(promptIds.length);
    expect(await llm.countTokens('hello')).toBe(tokenizer.encode('hello').length);
    const { ids, result } = await collect({ messages, maxNewTokens: 8 });
    const want = await referenceGreedy(fx.modelPath, promptIds, { maxNewTokens: 8, eosTokenIds: [1, 5], ...fx.dims });
    expect(result.promptTokens).toBe(promptIds.length);
    expect(result.finishReason === 'stop' ? [...ids, want[want.length - 1]] : ids).toEqual(want);
  });

  it('samples reproducibly with a seed', async () => {
    const request = { prompt: 'once upon a time', maxNewTokens: 16, temperature: 1.5, topK: 100, topP: 0.95 };
    const a = await collect({ ...request, seed: 7 });
    const b = await collect({ ...request, seed: 7 });
    const c = await collect({ ...request, seed: 8 });
    const greedy = await collect({ prompt: request.prompt, maxNewTokens: 16 });
    expect(a.ids).toEqual(b.ids);
    expect(a.text).toBe(b.text);
    expect(c.ids).not.toEqual(a.ids);
    expect(a.ids).not.toEqual(greedy.ids);
  });

  it('stops before a stop string, even one split across tokens, and never emits past it', async () => {
    const full = await collect({ prompt: 'the dog', maxNewTokens: 30 });
    expect(full.text.length).toBeGreaterThan(8);
    // A stop string that starts inside one token's text and ends in a later one.
    const stop = full.text.slice(3, 7);
    const { text, result, chunks } = await collect({ prompt: 'the dog', maxNewTokens: 30, stop: [stop] });
    expect(result.finishReason).toBe('stop');
    expect(text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    expect(result.text).toBe(text);
    expect(chunks.every((c) => !c.text.includes(stop))).toBe(true);
  });

  it('ends at max new tokens with finishReason length', async () => {
    const { ids, result } = await collect({ prompt: 'red blue green', maxNewTokens: 5, repetitionPenalty: 1.3 });
    expect(result.finishReason).toBe('length');
    expect(result.completionTokens).toBe(5);
    expect(ids).toHaveLength(5);
  });

  it('penalises repetition: with a strong penalty no token repeats, and no prompt token comes back', async () => {
    const prompt = 'the the the cat';
    const { ids } = await collect({ prompt, maxNewTokens: 40, repetitionPenalty: 50 });
    expect(new Set(ids).size).toBe(ids.length);
    const promptIds = new Set(tokenizer.encode(prompt));
    expect(ids.filter((id) => promptIds.has(id))).toEqual([]);
  });

  it('stops within one step when aborted, from the callback or by leaving the loop', async () => {
    const controller = new AbortController();
    let seen = 0;
    const stream = llm.generate({ prompt: 'hello', maxNewTokens: 50 }, {
      signal: controller.signal,
      onToken: () => {
        if (++seen === 3) controller.abort();
      },
    });
    const result = await stream.result;
    expect(result.finishReason).toBe('abort');
    expect(result.completionTokens).toBe(3);

    const early = llm.generate({ prompt: 'hello', maxNewTokens: 50 });
    let n = 0;
    for await (const _chunk of early) if (++n === 2) break;
    const r2 = await early.result;
    expect(r2.finishReason).toBe('abort');
    expect(r2.completionTokens).toBeLessThanOrEqual(3);

    const pre = new AbortController();
    pre.abort();
    const r3 = await llm.generate({ prompt: 'hello' }, { signal: pre.signal }).result;
    expect(r3).toMatchObject({ finishReason: 'abort', completionTokens: 0 });
  });

  it('rejects a prompt longer than the context and bad options with invalid-argument', async () => {
    const long = 'the cat '.repeat(200);
    expect(await llm.countTokens(long)).toBeGreaterThan(256);
    const err = await llm.generate({ prompt: long }).result.catch((e: unknown) => e);
    expect(isTesseraError(err, 'invalid-argument')).toBe(true);
    expect((err as Error).message).toMatch(/context is 256 tokens/);
    // The iterator reports the same failure.
    await expect((async () => {
      for await (const _ of llm.generate({ prompt: long }));
    })()).rejects.toMatchObject({ code: 'invalid-argument' });
    for (const bad of [{ prompt: 'x', temperature: -1 }, { prompt: 'x', topP: 0 }, { prompt: 'x', maxNewTokens: 0 }, { messages: [] }, { messages: [{ role: 'robot', content: 'x' }] }]) {
      const e = await llm.generate(bad as GenerateRequest).result.catch((x: unknown) => x);
      expect(isTesseraError(e, 'invalid-argument'), JSON.stringify(bad)).toBe(true);
    }
    // The generator still works afterwards.
    expect((await llm.generate({ prompt: 'x', maxNewTokens: 2 }).result).completionTokens).toBe(2);
  });

  it('runs two generations at once on one generator, each with its own KV cache', async () => {
    const a = { prompt: 'hello world', maxNewTokens: 12 };
    const b = { messages: [{ role: 'user' as const, content: 'tell me a story' }], maxNewTokens: 12 };
    const [aloneA, aloneB] = [await collect(a), await collect(b)];
    const [both1, both2] = await Promise.all([collect(a), collect(b)]);
    expect(both1.ids).toEqual(aloneA.ids);
    expect(both2.ids).toEqual(aloneB.ids);
  });

  it('a generator disposed mid-stream fails the stream with session-closed, never a silent end', async () => {
    const other = await engine.loadGenerator(url(fx.packDir), load);
    let n = 0;
    const stream = other.generate({ prompt: 'hello', maxNewTokens: 200 }, { onToken: () => ++n === 2 && void other.dispose() });
    await expect(stream.result).rejects.toMatchObject({ code: 'session-closed' });
    await expect((async () => {
      for await (const _ of stream);
    })()).rejects.toMatchObject({ code: 'session-closed' });
    expect(n).toBeLessThan(200);
  });

  it('stops at an EOS id from generation_config.json (an int there)', async () => {
    const prompt = 'hello world';
    const want = await referenceGreedy(fx.modelPath, tokenizer.encode(prompt), { maxNewTokens: 6, ...fx.dims });
    const eos = want[3] as number;
    expect(want.slice(0, 3)).not.toContain(eos);
    const dir = join(fx.root, 'eos-variant');
    await cp(fx.dir, dir, { recursive: true });
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 0, eos_token_id: eos }));
    const packDir = join(fx.root, 'packs', 'eos-variant');
    await packModel(dir, { out: packDir, chunkSize: 64 * 1024 });
    const other = await engine.loadGenerator(url(packDir), load);
    try {
      const stream = other.generate({ prompt, maxNewTokens: 6 });
      const ids: number[] = [];
      for await (const c of stream) ids.push(...c.tokenIds);
      const result = await stream.result;
      expect(result.finishReason).toBe('stop');
      expect(ids).toEqual(want.slice(0, 3));
      expect(result.completionTokens).toBe(4); // the EOS counts, but adds no text
    } finally {
      await other.dispose();
    }
    await expect(other.generate({ prompt }).result).rejects.toMatchObject({ code: 'session-closed' });
  });
});

describe('generation across the worker transport (a real MessageChannel)', () => {
  it('streams the same tokens as in-process, with counts, aborts within a step, and keeps error codes', async () => {
    const server = await startRangeServer({ root: join(fx.root, 'packs') });
    const { port1, port2 } = new MessageChannel();
    // The worker side, watched: how many tokens it had made when the cancel reached it.
    const atCancel: number[] = [];
    const inner = createInProcessEngine();
    const watched: Engine = {
      ...inner,
      async loadGenerator(source, options) {
        const g = await inner.loadGenerator(source, options);
        return {
          ...g,
          generate(request, call = {}) {
            let made = 0;
            call.signal?.addEventListener('abort', () => atCancel.push(made));
            return g.generate(request, { ...call, onToken: (c) => (made++, call.onToken?.(c)) });
          },
        };
      },
    };
    const stop = serveEngine(watched, port2 as unknown as PortLike);
    const remote = createWorkerEngine({ worker: port1 as unknown as WorkerLike });
    try {
      const far = await remote.loadGenerator(`${server.url}/tiny-llama/manifest.json`, { device: 'wasm', cache: { type: 'memory' } });
      expect(far).toMatchObject({ modelType: 'llama', contextLength: 256, dtype: 'fp32', device: 'wasm', graph: 'onnx/model.onnx', maxTokenBytes: llm.maxTokenBytes });
      const request = { prompt: 'hello world, the cat sat on the mat', maxNewTokens: 12 };
      const near = await collect(request);
      const seen: GenerateChunk[] = [];
      const stream = far.generate(request, { onToken: (c) => seen.push(c) });
      const iterated: GenerateChunk[] = [];
      for await (const c of stream) iterated.push(c);
      const result = await stream.result;
      expect(iterated.flatMap((c) => c.tokenIds)).toEqual(near.ids);
      expect(seen).toEqual(iterated);
      expect(result).toMatchObject({ text: near.result.text, finishReason: near.result.finishReason, promptTokens: near.result.promptTokens, completionTokens: near.result.completionTokens });
      expect(await far.countTokens([{ role: 'user', content: 'hi' }])).toBe(await llm.countTokens([{ role: 'user', content: 'hi' }]));

      // Abort from the callback: the cancel crosses while the worker may finish the step in hand.
      const controller = new AbortController();
      let n = 0;
      const aborted = await far.generate({ prompt: 'hello', maxNewTokens: 100 }, { signal: controller.signal, onToken: () => ++n === 3 && controller.abort() }).result;
      expect(aborted.finishReason).toBe('abort');
      expect(aborted.completionTokens).toBeGreaterThanOrEqual(3);
      // Tokens made while chunks and the cancel were in flight are fine; once the cancel is in, at most the step in hand.
      expect(atCancel).toHaveLength(1);
      expect(aborted.completionTokens).toBeLessThanOrEqual((atCancel[0] as number) + 1);
      // Leaving the loop early cancels too.
      const early = far.generate({ prompt: 'hello', maxNewTokens: 100 });
      for await (const _ of early) break;
      const left = await early.result;
      expect(left.finishReason).toBe('abort');
      expect(atCancel).toHaveLength(2);
      expect(left.completionTokens).toBeLessThanOrEqual((atCancel[1] as number) + 1);

      const err = await far.generate({ prompt: 'the cat '.repeat(200) }).result.catch((e: unknown) => e);
      expect(isTesseraError(err, 'invalid-argument')).toBe(true);
      await far.dispose();
      await expect(far.generate({ prompt: 'x' }).result).rejects.toMatchObject({ code: 'session-closed' });
    } finally {
      await remote.dispose();
      stop();
      port2.close();
      await server.close();
    }
  });
});

describe('a decoder from a Hugging Face-style repository URL (no manifest)', () => {
  it('loads through the HF file loader and generates what the pack generates', async () => {
    const hub = await startHfServer({ repos: { 'test/tiny-llama': fx.dir } });
    const repo = `${hub.url}/test/tiny-llama/resolve/main/`;
    try {
      const fromHub = await engine.loadGenerator(repo, { cache: { type: 'memory' }, device: 'wasm' });
      try {
        expect(fromHub).toMatchObject({ modelType: 'llama', contextLength: 256, dtype: 'fp32', graph: 'onnx/model.onnx' });
        expect(fromHub.manifest.name).toBe('test/tiny-llama');
        expect(fromHub.manifest.graphs).toEqual([{ path: 'onnx/model.onnx', externalData: ['onnx/model.onnx.data'] }]);
        const request = { prompt: 'hello world, the cat sat on the mat', maxNewTokens: 10 };
        const a = await fromHub.generate(request).result;
        const b = await llm.generate(request).result;
        expect(a.text).toBe(b.text);
        expect(a.completionTokens).toBe(b.completionTokens);
      } finally {
        await fromHub.dispose();
      }
      await expect(engine.loadGenerator(repo, { cache: { type: 'memory' }, dtype: 'q4' })).rejects.toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/has no q4 graph \(looked for onnx\/model_q4\.onnx/) });
    } finally {
      await hub.close();
    }
  });
});

describe('weight variants', () => {
  it('dtype fp16 loads onnx/model_fp16.onnx alone (float16 weights and KV cache) and matches its reference loop', async () => {
    const root = join(fx.root, 'variants');
    const { writeLlamaDecoder } = await import('../../src/pack/generate/llama-decoder.ts');
    const folder = await writeLlamaDecoder(join(root, 'tiny-llama'), { ...fx.shape }, { fp16: true });
    expect(folder.files).toContain('onnx/model_fp16.onnx.data');
    const packDir = join(root, 'pack');
    await packModel(folder.dir, { out: packDir, chunkSize: 64 * 1024 });
    const server = await startRangeServer({ root });
    try {
      const half = await engine.loadGenerator(`${server.url}/pack/manifest.json`, { device: 'wasm', cache: { type: 'memory' }, dtype: 'fp16' });
      const sent = server.stats();
      try {
        expect(half).toMatchObject({ dtype: 'fp16', graph: 'onnx/model_fp16.onnx' });
        // Only the fp16 variant's graph and weights were downloaded.
        const paths = Object.keys(sent.byPath);
        expect(paths.some((p) => p.endsWith('/onnx/model_fp16.onnx.data'))).toBe(true);
        expect(paths.some((p) => p.endsWith('/onnx/model.onnx.data') || p.endsWith('/onnx/model.onnx'))).toBe(false);
        const prompt = 'hello world';
        const want = await referenceGreedy(join(folder.dir, 'onnx', 'model_fp16.onnx'), tokenizer.encode(prompt), { maxNewTokens: 10, eosTokenIds: [1, 5], fp16: true, ...fx.dims });
        const stream = half.generate({ prompt, maxNewTokens: 10 });
        const ids: number[] = [];
        for await (const c of stream) ids.push(...c.tokenIds);
        const result = await stream.result;
        expect(result.finishReason === 'stop' ? [...ids, want[want.length - 1]] : ids).toEqual(want);
      } finally {
        await half.dispose();
      }
      // Without a dtype the full-precision graph is the default.
      const full = await engine.loadGenerator(`${server.url}/pack/manifest.json`, { device: 'wasm', cache: { type: 'memory' } });
      expect(full.dtype).toBe('fp32');
      await full.dispose();
    } finally {
      await server.close();
    }
  });
});

describe('generation on onnxruntime-node (native cpu sessions)', () => {
  it('the same loop, on a native session, equals the reference token for token', async () => {
    const { nodeSessionFactory } = await import('../../src/backend/node-session.ts');
    const native = createInProcessEngine({ createSession: nodeSessionFactory({ threads: 1 }) });
    try {
      const gen = await native.loadGenerator(url(fx.packDir), { fetch: fileFetch, cache: { type: 'memory' }, device: 'cpu' });
      expect(gen.device).toBe('cpu');
      const prompt = 'hello world, the cat sat on the mat';
      const want = await referenceGreedy(fx.modelPath, tokenizer.encode(prompt), { maxNewTokens: 16, eosTokenIds: [1, 5], ...fx.dims });
      const stream = gen.generate({ prompt, maxNewTokens: 16 });
      const ids: number[] = [];
      for await (const c of stream) ids.push(...c.tokenIds);
      const result = await stream.result;
      expect(result.finishReason === 'stop' ? [...ids, want[want.length - 1]] : ids).toEqual(want);
      // Abort within one step there too.
      const controller = new AbortController();
      let n = 0;
      const aborted = await gen.generate({ prompt, maxNewTokens: 100 }, { signal: controller.signal, onToken: () => ++n === 3 && controller.abort() }).result;
      expect(aborted).toMatchObject({ finishReason: 'abort', completionTokens: 3 });
    } finally {
      await native.dispose();
    }
  });
});
