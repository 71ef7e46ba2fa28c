/**
 * The inference routes' side of the coordinator pools: one Durable Object
 * per model (`idFromName('pool:' + model)`, with an optional location hint
 * from TESSERA_POOL_LOCATIONS), the directory object for everything that
 * lists models or reads metrics, model descriptions cached briefly per
 * isolate, and the pools' answers turned into HTTP errors.
 */
import type { TensorMap } from '../../src/protocol/tensor.ts';
import type { CoordinatorObject, InferTiming, ModelDescription, TimedResponse } from '../coordinator-do.ts';
import type { DirectoryObject } from '../directory-do.ts';
import type { DirectorySnapshot, PoolSummary } from '../../src/coordinator/pool-summary.ts';
import type { Env } from '../env.ts';
import { statusOf } from '../../src/errors.ts';
import { HttpError } from '../http-error.ts';
import type { SaturationHints } from './saturation-hint.ts';
import { DIRECTORY_NAME, POOL_HEADER, poolName } from './pool-names.ts';

/** How long a model list is reused before asking the directory again. A miss always asks. */
const MODELS_TTL_MS = 1_000;

/** The bindings that reach the pools and the directory. */
export type PoolEnv = Pick<Env, 'COORDINATOR' | 'DIRECTORY' | 'TESSERA_POOL_LOCATIONS'>;

/** Durable Objects location hints (Cloudflare's list); a pool is created near its hint. */
export const LOCATION_HINTS: readonly DurableObjectLocationHint[] = ['wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'apac-ne', 'apac-se', 'oc', 'afr', 'me'];

export { DIRECTORY_NAME, POOL_HEADER, poolName };

const parsedHints = new Map<string, Record<string, DurableObjectLocationHint>>();

/**
 * TESSERA_POOL_LOCATIONS parsed and checked: a JSON object from model name to
 * a location hint. A bad value is a deployment mistake: every inference route
 * answers 500 `invalid-argument` naming it, rather than silently ignoring it.
 *
 * @example
 * poolLocations('{"llama":"weur"}'); // { llama: 'weur' }
 */
export function poolLocations(raw: string | undefined): Record<string, DurableObjectLocationHint> {
  if (raw === undefined || raw.trim() === '') return {};
  const known = parsedHints.get(raw);
  if (known) return known;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new HttpError(500, 'invalid-argument', 'TESSERA_POOL_LOCATIONS is not valid JSON; set it to an object like {"llama": "weur"}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(500, 'invalid-argument', 'TESSERA_POOL_LOCATIONS must be a JSON object from model name to location hint, like {"llama": "weur"}');
  }
  const out: Record<string, DurableObjectLocationHint> = {};
  for (const [model, hint] of Object.entries(value)) {
    if (typeof hint !== 'string' || !(LOCATION_HINTS as readonly string[]).includes(hint)) {
      throw new HttpError(500, 'invalid-argument', `TESSERA_POOL_LOCATIONS["${model}"] is ${JSON.stringify(hint)}; use one of ${LOCATION_HINTS.join(', ')}`);
    }
    out[model] = hint as DurableObjectLocationHint;
  }
  parsedHints.set(raw, out);
  return out;
}

/**
 * The pool object of one model. Every inference route and every session
 * socket for that model reaches the same object; other models never do.
 *
 * @example const stub = poolOf(c.env, 'mlp'); await stub.infer({ id, model: 'mlp', inputs });
 */
export function poolOf(env: PoolEnv, model: string): DurableObjectStub<CoordinatorObject> {
  const id = env.COORDINATOR.idFromName(poolName(model));
  const hint = poolLocations(env.TESSERA_POOL_LOCATIONS)[model];
  return hint ? env.COORDINATOR.get(id, { locationHint: hint }) : env.COORDINATOR.get(id);
}

/** @example const snapshot = await directoryOf(c.env).snapshot(); */
export function directoryOf(env: Pick<Env, 'DIRECTORY'>): DurableObjectStub<DirectoryObject> {
  return env.DIRECTORY.get(env.DIRECTORY.idFromName(DIRECTORY_NAME));
}

/**
 * The models the directory's pools serve: pools with at least one session,
 * described by their first session's offer.
 *
 * @example modelsOf(await directoryOf(env).snapshot()); // [{ name: 'mlp', sessions: 2, ... }]
 */
export function modelsOf(snapshot: Pick<DirectorySnapshot, 'pools'>): ModelDescription[] {
  const byName = new Map<string, ModelDescription>();
  for (const p of snapshot.pools as PoolSummary[]) {
    if (p.sessions.length === 0 || !p.offer) continue;
    const known = byName.get(p.model);
    // A sharded model (pool `model@k`) is listed once, with all its sessions.
    if (known) known.sessions += p.sessions.length;
    else byName.set(p.model, { ...p.offer, sessions: p.sessions.length });
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Per-isolate model lookup: saves a directory round trip per request.
 *
 * @example
 * const models = createModelDirectory();
 * const m = await models.get(c.env, 'mlp'); // 404 when no session has it warm
 */
export function createModelDirectory(clock: () => number = Date.now): {
  list(env: Pick<Env, 'DIRECTORY'>): Promise<ModelDescription[]>;
  get(env: Pick<Env, 'DIRECTORY'>, name: string): Promise<ModelDescription>;
} {
  let cached: { at: number; models: ModelDescription[] } | undefined;
  const refresh = async (env: Pick<Env, 'DIRECTORY'>): Promise<ModelDescription[]> => {
    const models = modelsOf((await directoryOf(env).snapshot()) as DirectorySnapshot);
    cached = { at: clock(), models };
    return models;
  };
  return {
    list: refresh,
    async get(env, name) {
      const fresh = cached !== undefined && clock() - cached.at < MODELS_TTL_MS;
      let model = fresh ? cached?.models.find((m) => m.name === name) : undefined;
      if (!model) model = (await refresh(env)).find((m) => m.name === name);
      if (!model) {
        throw new HttpError(404, 'not-found', `model "${name}" is not served: no session has it warm (GET /v1/models lists the models that are)`);
      }
      return model;
    },
  };
}

/** What {@link inferOrThrow} needs besides the request itself. */
export interface InferOptions {
  /**
   * The isolate's saturation hints (one per createApp, shared by every
   * inference API). Required, so no route can skip them: a hinted model is
   * refused before the pool is asked, and the pool's answer sets or clears
   * the hint (worker/lib/saturation-hint.ts).
   */
  saturation: SaturationHints;
  /** Filled with the request's timings when given (a traced request). */
  trace?: TraceSink;
  /** The HTTP client's connection: its disconnect cancels the request at the pool. */
  client?: ClientLink;
}

/**
 * Runs one request through the coordinator; resolves with the outputs or
 * throws the HttpError its answer maps to (429 with Retry-After when the
 * model's queue is full). Every call goes through the saturation hint: a
 * 429 while the model is hinted without calling the pool, and the pool's
 * answer teaches the hint. Session, cancel and admin routes never come here.
 *
 * @example
 * const outputs = await inferOrThrow(c.env, 'mlp', { x }, { saturation, client: clientLinkOf(c) });
 */
export async function inferOrThrow(env: PoolEnv, model: string, inputs: TensorMap, options: InferOptions): Promise<TensorMap> {
  return options.saturation.through(model, () => askPool(env, model, inputs, options.trace, options.client));
}

/** One infer RPC to the model's pool, its answer as outputs or the HttpError it maps to. */
async function askPool(env: PoolEnv, model: string, inputs: TensorMap, trace?: TraceSink, client?: ClientLink): Promise<TensorMap> {
  const started = Date.now();
  const id = crypto.randomUUID();
  const release = client ? cancelOnDisconnect(env, model, id, client) : undefined;
  let response: TimedResponse;
  try {
    response = (await poolOf(env, model).infer({ id, model, inputs }, trace !== undefined)) as TimedResponse;
  } finally {
    release?.();
  }
  if (trace) {
    trace.coordinatorMs = Date.now() - started;
    if (response.timing) trace.timing = response.timing;
    if (response.type === 'result' && response.computeMs !== undefined) trace.computeMs = response.computeMs;
  }
  if (response.type === 'result') return response.outputs;
  const { code, message, details } = response.error;
  const status = statusOf(code, 'session');
  const headers: Record<string, string> = {};
  if (code === 'rate-limited') headers['Retry-After'] = String(response.retryAfterSeconds ?? 1);
  throw new HttpError(status, code, message, { headers, ...(details ? { details } : {}) });
}

/** Filled by inferOrThrow when given: the RPC's duration and the object's own split of it. */
export interface TraceSink {
  coordinatorMs?: number;
  timing?: InferTiming;
  /** The session's own time for the batch, as it reported it (absent from older sessions). */
  computeMs?: number;
}

/** The request header that asks for a `Server-Timing` breakdown (the benchmark sends it). */
export const TRACE_HEADER = 'X-Tessera-Timing';

/**
 * `Server-Timing` for a traced request: total time in the Worker, the RPC to
 * the coordinator, and inside it queueing, the session round trip and the
 * session's own compute time as it reported it (durations in ms; the Worker's clock advances only at I/O, which is where
 * these boundaries are).
 *
 * @example
 * c.header('Server-Timing', serverTiming(startedAt, trace));
 */
export function serverTiming(startedAt: number, trace: TraceSink, now = Date.now()): string {
  const parts = [`worker;dur=${now - startedAt}`];
  if (trace.coordinatorMs !== undefined) parts.push(`rpc;dur=${trace.coordinatorMs}`);
  if (trace.timing) parts.push(`queue;dur=${trace.timing.queueMs}`, `session;dur=${trace.timing.sessionMs}`);
  if (trace.computeMs !== undefined) parts.push(`compute;dur=${trace.computeMs}`);
  return parts.join(', ');
}

/**
 * What a route knows about its HTTP client's connection: the request's
 * signal, which workerd aborts when the client goes away (compatibility flag
 * `enable_request_signal` in wrangler.jsonc; without it the signal never
 * fires), and `waitUntil`, because once the client is gone the invocation
 * only lives on for work handed to it.
 *
 * Where it works: on Cloudflare's network, for any close. Locally (wrangler
 * 4.164, workerd 2026-11-17) it depends on the path and on how the client
 * closes: a reset (RST) fires the signal on workerd's own socket and on
 * wrangler's runtime port; a graceful close (FIN) never does (local workerd
 * takes it for an HTTP half-close and still answers; workerd PR #5062); and
 * wrangler's public port, a Node proxy, passes neither on. Measured with
 * bench/lib/direct-worker.ts and test/e2e/direct-cancel.test.ts, which resets
 * connections on workerd's own socket end to end; test/worker/cancel.test.ts
 * aborts the signal itself, as the runtime does in production.
 */
export interface ClientLink {
  signal: AbortSignal;
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * The ClientLink of a Hono request context.
 *
 * @example
 * const outputs = await inferOrThrow(c.env, model.name, inputs, { saturation, client: clientLinkOf(c) });
 */
export function clientLinkOf(c: { req: { raw: Request }; executionCtx: { waitUntil(promise: Promise<unknown>): void } }): ClientLink {
  let waitUntil: ClientLink['waitUntil'];
  try {
    const ctx = c.executionCtx;
    waitUntil = (p) => ctx.waitUntil(p);
  } catch {
    // Hono throws when there is no execution context (app.request() in tests): the promise still runs.
    waitUntil = (p) => void p.catch(() => undefined);
  }
  return { signal: c.req.raw.signal, waitUntil };
}

/**
 * Cancellation, in one place for every API (KServe, OIP, embeddings, and
 * streamed generation): when the client disconnects, the coordinator is told
 * (the model's pool) to drop request `requestId` (out of the queue, or a `cancel` frame to the
 * session running it). Returns the function that stops listening; call it
 * once the request is answered.
 *
 * @example
 * const release = cancelOnDisconnect(c.env, model, id, clientLinkOf(c));
 * try { await poolOf(c.env, model).infer({ id, model, inputs }); } finally { release(); }
 */
export function cancelOnDisconnect(env: PoolEnv, model: string, requestId: string, client: ClientLink): () => void {
  const onAbort = (): void => {
    client.waitUntil(poolOf(env, model).cancel(requestId).catch(() => undefined));
  };
  if (client.signal.aborted) {
    onAbort();
    return () => undefined;
  }
  client.signal.addEventListener('abort', onAbort, { once: true });
  // Without pending waitUntil work, workerd tears the whole request context
  // down the moment the client goes away, before the abort event can run
  // (workerd PR #5062): hold it open until the request is answered.
  let answered!: () => void;
  client.waitUntil(new Promise<void>((resolve) => (answered = resolve)));
  return () => {
    client.signal.removeEventListener('abort', onAbort);
    answered();
  };
}

/** The isolate's model directory (createApp makes one and hands it to every route). */
export type ModelDirectory = ReturnType<typeof createModelDirectory>;
