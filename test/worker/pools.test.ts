/**
 * Coordinator pools in workerd: one Durable Object per model, sessions with
 * one socket per pool, and the directory object that `/v1/models`, health
 * and `/metrics` read. Two models served by different sessions and one
 * session serving both; a revision hot-swap on one model leaves the other
 * pool untouched; eviction, 429s and bad joins stay inside one pool; the
 * directory's snapshot, feed and prewarm ring, and its storage across an
 * eviction. Config as in inference.test.ts (queueLimit 4, maxDelayMs 0).
 */
import { SELF, env, evictDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSession, type RunModel, type SessionClient, type WebSocketConstructor } from '../../src/transport/session-client.ts';
import { CLOSE_UNAUTHORIZED, decodeMessage, type ModelOffer } from '../../src/protocol/coordinator-messages.ts';
import type { DirectoryFeedEvent, DirectorySnapshot, PoolSummary } from '../../src/coordinator/pool-summary.ts';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { SelfWebSocket } from './self-websocket.ts';

const BASE = 'https://tessera.test';
const auth = { Authorization: 'Bearer test-key-1' };
const sessions: SessionClient[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

const offer = (name: string, revision = 'r1', maxBatch = 8): ModelOffer => ({
  name, revision, maxBatch,
  inputs: [{ name: 'x', type: 'float32', shape: [-1, 3] }],
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 3] }],
});
const scale = (x: TensorMap[string], factor: number): TensorMap => ({ y: { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * factor) } });
/** Each model multiplies by its own factor, so an answer tells which model (and so which pool) ran it. */
const byModel = (factors: Record<string, number>): RunModel => async (model, inputs) => scale(inputs.x!, factors[model] ?? Number.NaN);

/** SelfWebSocket that remembers every socket: its URL and the messages it sent. */
function recording(): { Ctor: WebSocketConstructor; sockets: { url: string; sent: { type: string; models?: ModelOffer[]; sessionId?: string }[]; closed: boolean }[] } {
  const sockets: { url: string; sent: { type: string; models?: ModelOffer[]; sessionId?: string }[]; closed: boolean }[] = [];
  const Base = SelfWebSocket as unknown as new (url: string) => WebSocket;
  const Ctor = class extends Base {
    readonly #rec: (typeof sockets)[number];
    constructor(url: string) {
      super(url);
      this.#rec = { url, sent: [], closed: false };
      sockets.push(this.#rec);
      this.addEventListener('close', () => (this.#rec.closed = true));
    }
    override send(data: string | ArrayBufferLike | ArrayBufferView): void {
      const bytes = typeof data === 'string' ? data : new Uint8Array(ArrayBuffer.isView(data) ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data);
      this.#rec.sent.push(decodeMessage(bytes as string | Uint8Array) as (typeof sockets)[number]['sent'][number]);
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
  return { Ctor, sockets };
}

async function join(models: ModelOffer[], runModel: RunModel, options: { Ctor?: WebSocketConstructor; maxInFlight?: number; token?: string } = {}): Promise<SessionClient> {
  const s = connectSession({
    url: `${BASE}/v1/sessions`, token: options.token ?? 'test-join-token', models, device: 'test',
    capacity: { maxInFlight: options.maxInFlight ?? 4, requestsPerSecond: 100 },
    runModel, WebSocket: options.Ctor ?? SelfWebSocket, backoff: { baseMs: 10, maxMs: 50 },
  });
  sessions.push(s);
  await s.joined();
  return s;
}

const pool = (model: string) => env.COORDINATOR.get(env.COORDINATOR.idFromName(`pool:${model}`));
const directory = () => env.DIRECTORY.get(env.DIRECTORY.idFromName('directory'));
const get = (path: string): Promise<Response> => SELF.fetch(`${BASE}${path}`, { headers: auth });
const predict = async (model: string, row: number[]): Promise<{ status: number; body: any; retryAfter: string | null }> => {
  const res = await SELF.fetch(`${BASE}/v1/models/${model}:predict`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ instances: [row] }) });
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('Retry-After') };
};
const until = async (ok: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
};
const ids = async (model: string): Promise<string[]> => (await pool(model).sessionList()).map((s) => s.id).sort();
const summaryOf = async (model: string): Promise<PoolSummary | undefined> => ((await directory().snapshot()) as DirectorySnapshot).pools.find((p) => p.pool === model);

describe('a pool per model', () => {
  it('routes two models served by different sessions, and one session serving both, each to its own pool', async () => {
    const a = await join([offer('pa')], byModel({ pa: 2 }));
    const b = await join([offer('pb')], byModel({ pb: 3 }));
    expect(await ids('pa')).toEqual([a.sessionId]);
    expect(await ids('pb')).toEqual([b.sessionId]);
    expect((await predict('pa', [1, 2, 3])).body).toEqual({ predictions: [[2, 4, 6]] });
    expect((await predict('pb', [1, 2, 3])).body).toEqual({ predictions: [[3, 6, 9]] });

    const { Ctor, sockets } = recording();
    const both = await join([offer('pa'), offer('pb')], byModel({ pa: 2, pb: 3 }), { Ctor });
    // One socket per pool, each join carrying only its model's offer, under one session id.
    expect(sockets.map((s) => new URL(s.url).searchParams.get('model')).sort()).toEqual(['pa', 'pb']);
    for (const s of sockets) {
      const joinMsg = s.sent.find((m) => m.type === 'join')!;
      expect(joinMsg.models!.map((m) => m.name)).toEqual([new URL(s.url).searchParams.get('model')]);
      expect(joinMsg.sessionId).toBe(both.sessionId);
    }
    expect(await ids('pa')).toEqual([a.sessionId, both.sessionId].sort());
    expect(await ids('pb')).toEqual([b.sessionId, both.sessionId].sort());
    // Each pool knows only its own model, even for the session that serves both.
    for (const model of ['pa', 'pb']) for (const s of await pool(model).sessionList()) expect(s.models).toEqual([model]);

    // The listing comes from the directory: both models, two sessions each.
    const listed = (await (await get('/v1/models')).json()) as { models: string[] };
    expect(listed.models).toEqual(['pa', 'pb']);
    expect((await summaryOf('pa'))!.sessions.map((s) => s.id).sort()).toEqual([a.sessionId, both.sessionId].sort());
    expect((await summaryOf('pb'))!.sessions.map((s) => s.id).sort()).toEqual([b.sessionId, both.sessionId].sort());

    // With the single-model sessions gone, the shared session serves both pools.
    await a.close();
    await b.close();
    await until(async () => (await ids('pa')).length === 1 && (await ids('pb')).length === 1, 'the single-model sessions to leave');
    const answers = await Promise.all([predict('pa', [1, 1, 1]), predict('pb', [1, 1, 1]), predict('pa', [2, 2, 2]), predict('pb', [2, 2, 2])]);
    expect(answers.map((r) => r.body)).toEqual([{ predictions: [[2, 2, 2]] }, { predictions: [[3, 3, 3]] }, { predictions: [[4, 4, 4]] }, { predictions: [[6, 6, 6]] }]);

    // Traffic reaches the directory as rates within about a second, and they settle to zero once it stops.
    await until(async () => ((await summaryOf('pa'))?.requestsPerSecond ?? 0) > 0, 'pa traffic in the directory');
    await until(async () => (await summaryOf('pa'))?.requestsPerSecond === 0, 'pa rates back to zero');

    // /metrics: one line per pool, labelled by model and pool; the shared session counted once.
    let metrics = '';
    await until(async () => /tessera_requests_total\{model="pb",pool="pb",status="ok"\} 3\n/.test((metrics = await (await get('/metrics')).text())), 'pb counted');
    expect(metrics).toMatch(/tessera_requests_total\{model="pa",pool="pa",status="ok"\} 3\n/);
    expect(metrics).toMatch(/tessera_model_sessions\{model="pa",pool="pa"\} 1\n/);
    expect(metrics).toMatch(/tessera_sessions 1\n/);
    expect(metrics).toMatch(/tessera_pools 2\n/);

    // Leaving one model closes that pool's socket only.
    both.setModels([offer('pb')]);
    await until(async () => (await ids('pa')).length === 0, 'the session to leave pa');
    expect(await ids('pb')).toEqual([both.sessionId]);
    expect(sockets.find((s) => s.url.endsWith('model=pa'))!.closed).toBe(true);
    expect(sockets.find((s) => s.url.endsWith('model=pb'))!.closed).toBe(false);
    expect((await predict('pb', [1, 0, 0])).body).toEqual({ predictions: [[3, 0, 0]] });
    // Once the directory has dropped the pool (the per-isolate model list may hold it up to a second, answering 503 from the empty pool meanwhile).
    await until(async () => (await predict('pa', [1, 0, 0])).status === 404, 'pa to be unlisted');
  });

  it('hot-swaps one model to a new revision without touching the other pool', async () => {
    const { Ctor, sockets } = recording();
    const s = await join([offer('hx', 'r1'), offer('hy', 'r1')], byModel({ hx: 2, hy: 5 }), { Ctor });
    const versions = async (model: string) => ((await (await get(`/v2/models/${model}`)).json()) as { versions: string[] }).versions;
    expect(await versions('hx')).toEqual(['r1']);
    const hyBefore = await summaryOf('hy');
    const hySocket = sockets.find((x) => x.url.endsWith('model=hy'))!;
    const hySent = hySocket.sent.length;

    s.setModels([offer('hx', 'r2'), offer('hy', 'r1')]);
    await until(async () => (await summaryOf('hx'))?.revision === 'r2', 'the directory to list hx at r2');
    // The model list is cached per isolate for a second: the new revision shows within it.
    await until(async () => (await versions('hx'))[0] === 'r2', 'hx metadata at r2');
    expect((await pool('hx').listModels()).map((m) => m.revision)).toEqual(['r2']);
    // hy: same socket, nothing sent to it, same session and join time, same revision.
    expect(sockets.filter((x) => x.url.endsWith('model=hy'))).toHaveLength(1);
    expect(hySocket.closed).toBe(false);
    expect(hySocket.sent.slice(hySent).filter((m) => m.type !== 'heartbeat')).toEqual([]);
    expect(sockets.find((x) => x.url.endsWith('model=hx'))!.sent.filter((m) => m.type === 'models')).toEqual([{ type: 'models', models: [offer('hx', 'r2')] }]);
    const hyAfter = (await pool('hy').poolSummary())!;
    expect(hyAfter.revision).toBe('r1');
    expect(hyAfter.sessions.map((x) => x.id)).toEqual([s.sessionId]);
    expect(hyAfter.sessions[0]!.leaseAgeMs).toBeGreaterThanOrEqual(hyBefore!.sessions[0]!.leaseAgeMs);
    expect(await versions('hy')).toEqual(['r1']);
    expect((await predict('hy', [1, 1, 1])).body).toEqual({ predictions: [[5, 5, 5]] });
    expect((await predict('hx', [1, 1, 1])).body).toEqual({ predictions: [[2, 2, 2]] });
  });

  it('evicts one pool while the other keeps serving; the evicted pool comes back with the same session', async () => {
    const s = await join([offer('ea'), offer('eb')], byModel({ ea: 2, eb: 3 }));
    await evictDurableObject(pool('ea'));
    // The other pool never noticed.
    expect(await ids('eb')).toEqual([s.sessionId]);
    expect((await predict('eb', [1, 1, 1])).body).toEqual({ predictions: [[3, 3, 3]] });
    await until(async () => (await ids('ea')).includes(s.sessionId!), 'ea to know the session again');
    expect((await predict('ea', [1, 1, 1])).body).toEqual({ predictions: [[2, 2, 2]] });
  });

  it('answers 429 with Retry-After from a full pool while another pool serves', async () => {
    const release: (() => void)[] = [];
    await join([offer('full', 'r1', 1)], async (m, i) => {
      await new Promise<void>((r) => release.push(r));
      return scale(i.x!, 1);
    }, { maxInFlight: 1 });
    await join([offer('free')], byModel({ free: 7 }));
    const admitted = [1, 2, 3, 4, 5].map(() => predict('full', [1, 2, 3]));
    await until(() => release.length === 1, 'first dispatch');
    await until(async () => (await pool('full').poolSummary())!.queueDepth === 4, 'queue of 4');
    // Nothing answered yet: the estimated queue wait is at least the time since the last report.
    expect((await pool('full').poolSummary())!.queueWaitMs).toBeGreaterThan(0);
    const refused = await predict('full', [1, 2, 3]);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(refused.body.error.code).toBe('rate-limited');
    expect(await predict('free', [1, 1, 1])).toMatchObject({ status: 200, body: { predictions: [[7, 7, 7]] } });
    const drain = setInterval(() => release.splice(0).forEach((r) => r()), 5);
    expect((await Promise.all(admitted)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    clearInterval(drain);
  });

  it('checks the join token on every pool socket, and refuses a join that offers another pool\'s model', async () => {
    await expect(join([offer('ta'), offer('tb')], byModel({}), { token: 'wrong' })).rejects.toMatchObject({ code: 'unauthorized' });
    expect(await ids('ta')).toEqual([]);
    expect(await ids('tb')).toEqual([]);

    // A raw socket to pool `ta` that joins with model `tb`: an error frame, close 1008, nothing joined.
    const ws = new (SelfWebSocket as unknown as new (url: string) => WebSocket)(`${BASE}/v1/sessions?model=ta`);
    const frames: unknown[] = [];
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
    ws.addEventListener('message', (e) => frames.push(decodeMessage(e.data as string | ArrayBuffer)));
    await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
    ws.send(JSON.stringify({ type: 'join', token: 'test-join-token', models: [offer('tb')], device: 'x', capacity: { maxInFlight: 1, requestsPerSecond: 1 } }));
    expect(await closed).toBe(1008);
    expect(frames).toEqual([{ type: 'error', error: expect.objectContaining({ code: 'invalid-argument', message: expect.stringMatching(/pool of model "ta"/) }) }]);
    expect(await ids('ta')).toEqual([]);
    expect(CLOSE_UNAUTHORIZED).toBe(4401);

    // A socket that names no model is refused before any pool sees it.
    const bare = await SELF.fetch(`${BASE}/v1/sessions`, { headers: { Upgrade: 'websocket' } });
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { error: { message: string } }).error.message).toMatch(/\?model=<name>/);
  });
});

describe('the directory', () => {
  it('feeds a snapshot and then pool, pool-gone and prewarm events, and keeps its state across an eviction', async () => {
    const stream = (await directory().feed()) as ReadableStream<Uint8Array>;
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const next = async (): Promise<DirectoryFeedEvent> => {
      for (;;) {
        const nl = buffered.indexOf('\n');
        if (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          return JSON.parse(line) as DirectoryFeedEvent;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('feed ended');
        buffered += decoder.decode(value, { stream: true });
      }
    };
    expect((await next()).type).toBe('snapshot');

    const s = await join([offer('fd')], byModel({ fd: 1 }));
    let event = await next();
    while (!(event.type === 'pool' && event.summary.pool === 'fd')) event = await next();
    expect(event.summary).toMatchObject({ pool: 'fd', model: 'fd', revision: 'r1', offer: { name: 'fd' }, sessions: [{ id: s.sessionId, device: 'test', models: ['fd'] }] });

    await directory().recordPrewarm({ at: 1, type: 'asked', sessionId: 'x', model: 'fd', reason: 'queue wait over 200 ms' });
    while (event.type !== 'prewarm') event = await next();
    expect(event.event).toMatchObject({ type: 'asked', model: 'fd' });

    await s.close();
    while (!(event.type === 'pool-gone' && event.pool === 'fd')) event = await next();
    await reader.cancel();

    const kept = await join([offer('kept')], byModel({ kept: 1 }));
    await evictDurableObject(directory());
    const snapshot = (await directory().snapshot()) as DirectorySnapshot;
    expect(snapshot.pools.find((p) => p.pool === 'kept')?.sessions.map((x) => x.id)).toEqual([kept.sessionId]);
    expect(snapshot.pools.find((p) => p.pool === 'fd')).toBeUndefined();
    expect(snapshot.prewarm.at(-1)).toMatchObject({ type: 'asked', model: 'fd' });
  });

  it('keeps the last 200 prewarm events', async () => {
    for (let i = 0; i < 205; i++) await directory().recordPrewarm({ at: i, type: 'progress', sessionId: 's', model: 'ring', loadedBytes: i, totalBytes: 205 });
    const ring = ((await directory().snapshot()) as DirectorySnapshot).prewarm.filter((e) => e.model === 'ring');
    expect(ring.length).toBeLessThanOrEqual(200);
    expect(ring.at(-1)!.loadedBytes).toBe(204);
    expect(ring[0]!.loadedBytes).toBeGreaterThanOrEqual(5);
  });
});
