/**
 * POST /v1/embeddings end to end, with the official `openai` client: the real
 * `wrangler dev` (workerd, coordinator Durable Object), a Node session that
 * joined over WebSocket and runs the transformers.js pipeline through
 * Tessera, and the generated BERT-style encoder served by a local hub
 * look-alike. Embeddings are checked against a direct run of the pipeline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingsRunner } from '../../src/engine/hf/embeddings-runner.ts';
import { pipeline, type HfPipeline } from '../../src/transport/hf-pipeline.ts';
import { connectSession, type SessionClient } from '../../src/transport/session-client.ts';
import { writeHfEncoder } from '../helpers/hf-model.ts';
import { startHfServer, type HfServer } from '../helpers/hf-server.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const API_KEY = 'openai-test-key';
const JOIN = 'openai-test-join';

describe('OpenAI embeddings through the local Worker', () => {
  let work: string;
  let dev: WranglerDev;
  let base: string;
  let hub: HfServer;
  let embed: HfPipeline;
  let session: SessionClient;
  const batches: number[] = [];
  /** While set, the session holds each batch this long (a busy session, so requests queue up). */
  let holdMs = 0;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-openai-'));
    const enc = await writeHfEncoder(join(work, 'bert'), { hidden: 32, layers: 2 });
    hub = await startHfServer({ repos: { 'test/bert': enc.dir } });
    embed = await pipeline('feature-extraction', 'test/bert', { source: hub.url, cache: { type: 'memory' } });
    const runner = embeddingsRunner(embed, { name: 'tiny-bert', hidden: enc.hidden, maxBatch: 16 });

    dev = await startWranglerDev({
      vars: { TESSERA_API_KEYS: API_KEY, TESSERA_JOIN_TOKEN: JOIN, TESSERA_COORDINATOR_CONFIG: '{"maxDelayMs":20}' },
    });
    base = dev.base;
    session = connectSession({
      url: base,
      token: JOIN,
      models: [runner.offer],
      device: embed.device,
      capacity: { maxInFlight: 1, requestsPerSecond: 50 },
      runModel: async (_model, inputs) => {
        batches.push(inputs.text?.dims[0] ?? 0);
        if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
        return runner.run(inputs);
      },
    });
    // Served once the coordinator lists it.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${base}/v1/models`, { headers: { Authorization: `Bearer ${API_KEY}` } });
      if (((await res.json()) as { models?: string[] }).models?.includes('tiny-bert')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  afterAll(async () => {
    session?.close();
    await embed?.dispose();
    await hub?.close();
    await dev?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('answers the openai client (base64 and float) with the pipeline embeddings, batching concurrent requests', async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `${base}/v1`, maxRetries: 0 });
    const texts = ['hello world', 'the cat sat on the mat', 'edge browser cache'];
    const expected = await embed(texts, { pooling: 'mean', normalize: true });
    const d = expected.dims[1] as number;
    const row = (i: number) => Array.from(expected.data.subarray(i * d, (i + 1) * d));

    // The client asks for base64 by default and decodes it.
    const res = await client.embeddings.create({ model: 'tiny-bert', input: texts });
    expect(res.object).toBe('list');
    expect(res.model).toBe('tiny-bert');
    expect(res.data.map((x) => x.index)).toEqual([0, 1, 2]);
    res.data.forEach((x, i) => x.embedding.forEach((v, j) => expect(v).toBeCloseTo(row(i)[j] as number, 5)));
    expect(res.usage.prompt_tokens).toBe(4 + 8 + 5);

    const float = await client.embeddings.create({ model: 'tiny-bert', input: 'hello world', encoding_format: 'float' });
    expect(Array.isArray(float.data[0]!.embedding)).toBe(true);
    float.data[0]!.embedding.forEach((v, j) => expect(v).toBeCloseTo(row(0)[j] as number, 5));

    // The wire format itself, without the client's decoding: float -> numbers, base64 -> little-endian float32.
    const raw = async (format: 'float' | 'base64') => {
      const r = await fetch(`${base}/v1/embeddings`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'tiny-bert', input: 'hello world', encoding_format: format }),
      });
      expect(r.status).toBe(200);
      return ((await r.json()) as { data: Array<{ embedding: unknown }> }).data[0]!.embedding;
    };
    const asFloat = await raw('float');
    expect(Array.isArray(asFloat) && (asFloat as unknown[]).every((v) => typeof v === 'number')).toBe(true);
    const asBase64 = await raw('base64');
    expect(typeof asBase64).toBe('string');
    const decoded = new Float32Array(new Uint8Array(Buffer.from(asBase64 as string, 'base64')).buffer);
    expect(decoded.length).toBe(d);
    decoded.forEach((v, j) => expect(v).toBeCloseTo(row(0)[j] as number, 5));

    // The first request goes straight to the idle session, which then stays busy
    // for 300 ms: the other two queue meanwhile and must reach it as ONE batch.
    batches.length = 0;
    holdMs = 300;
    const many = await Promise.all(texts.map((t) => client.embeddings.create({ model: 'tiny-bert', input: t })));
    holdMs = 0;
    many.forEach((r, i) => r.data[0]!.embedding.forEach((v, j) => expect(v).toBeCloseTo(row(i)[j] as number, 5)));
    console.log(`concurrent requests ran in batches of ${JSON.stringify(batches)}`);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(3);
    expect(batches).toEqual([1, 2]);
  });

  it('rejects bad requests with 400 and a code, and a wrong key with 401', async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `${base}/v1`, maxRetries: 0 });
    const fail = (body: Record<string, unknown>) => client.embeddings.create(body as never).then(() => undefined, (e: unknown) => e as { status?: number; code?: string; message?: string });
    for (const body of [{ model: 'tiny-bert', input: [] }, { model: 'tiny-bert', input: '' }, { model: 'tiny-bert', input: 'x'.repeat(5000) }, { model: 'tiny-bert', input: Array(2049).fill('a') }, { model: 'tiny-bert', input: 'a', encoding_format: 'int8' }]) {
      const err = await fail(body);
      expect(err?.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(err?.code).toBe('bad-request');
    }
    expect((await fail({ model: 'no-such-model', input: 'a' }))?.status).toBe(404);
    const wrong = new OpenAI({ apiKey: 'wrong', baseURL: `${base}/v1`, maxRetries: 0 });
    expect((await wrong.embeddings.create({ model: 'tiny-bert', input: 'a' }).catch((e: { status?: number }) => e))).toMatchObject({ status: 401 });
  });
});
