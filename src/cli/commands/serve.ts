/**
 * `tessera serve --coordinator <url> --models <names>`: a Node process joins
 * the coordinator as a client session and runs the batches it is sent.
 * Models are loaded from the same Worker (`<url>/models/<name>/manifest.json`)
 * with the engine; `--simulate-ms N` instead serves an echo model that takes
 * N ms per batch (y = x), which is how the coordinator benchmark measures the
 * coordinator alone, and `--simulate-token-ms N` serves simulated
 * text-generation models taking N ms per token (serve-generation.ts), the
 * same for the generation routes. `--device` picks where models run (default `auto`:
 * onnxruntime-node's best provider) and the session prints what it chose and
 * why, and the capacity it measured and declared at join. `--prewarm
 * <models|all> --prewarm-budget <size>` also offers to load models when the
 * coordinator asks under demand (serve-prewarm.ts); with it `--models` may be
 * left out.
 */
import { TesseraError } from '../../errors.ts';
import type { ModelOffer, TensorSpec } from '../../protocol/coordinator-messages.ts';
import type { TensorMap, TensorType } from '../../protocol/tensor.ts';
import type { ValueInfo } from '../../protocol/device.ts';
import { connectSession, type RunGenerate, type RunModel, type SessionClient, type SessionClientEvent } from '../../transport/session-client.ts';
import { generationServable, isGenerationPack, simulatedGenerationOffers, simulatedGenerator } from './serve-generation.ts';
import type { RegisterCommand } from '../cli-context.ts';
import type { Engine, LoadOptions } from '../../engine/engine.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import type { ComputeHost, ComputeHostEvent, ServedModel } from '../../transport/compute-host.ts';
import { measureCapacity } from '../measure-capacity.ts';
import { DEVICE_FLAG_HELP, parseDeviceFlag, parseThreadsFlag } from '../device-flag.ts';
import type { DeviceRequest } from '../../protocol/device.ts';
import type { LoadProgress } from '../../fetch/progress.ts';
import { parsePrewarmBudget, parsePrewarmFlag, standbyEventLine, startNodeStandby } from './serve-prewarm.ts';

export interface ServeOptions {
  coordinator: string;
  models: string[];
  joinToken: string;
  /** Simulated service time per batch; undefined: run the real models. */
  simulateMs?: number;
  /** Serve the models as simulated text generators taking this many ms per token (see serve-generation.ts). */
  simulateTokenMs?: number;
  maxInFlight?: number;
  maxBatch?: number;
  onEvent?: (event: SessionClientEvent) => void;
  signal?: AbortSignal;
  /** Where loaded weights are cached (default: the user's cache directory). */
  cache?: LoadOptions['cache'];
  /** Default `auto`: onnxruntime-node's best installed provider; `wasm`: onnxruntime-web. */
  device?: DeviceRequest;
  /** Intra-op threads of native CPU sessions (default: the machine's cores). */
  threads?: number;
  /** A batch computing longer than this fails with `timeout` and the compute worker is replaced. Default {@link DEFAULT_COMPUTE_TIMEOUT_MS}. */
  computeTimeoutMs?: number;
  /** Compute worker restarts and reloads. */
  onComputeEvent?: (event: ComputeHostEvent) => void;
  /** Loading progress per model (bytes, rate, from cache vs network). */
  onProgress?: (model: string, progress: LoadProgress) => void;
  /** Load these revisions rather than each model's current one (a prewarm ask names the revision its pool serves). */
  revisions?: Record<string, string>;
  /** Join marked `prewarmed` (the directory asked for these models: serve-prewarm.ts). */
  prewarmed?: boolean;
}

/**
 * The simulated model: sleeps `ms` per batch (honouring abort), then echoes `x` as `y`.
 *
 * @example
 * const run = simulatedModel(20); await run('echo', { x }, signal); // { y: x } after 20 ms
 */
export function simulatedModel(ms: number): RunModel {
  // One batch at a time, like one GPU: pipelined batches (maxInFlight > 1)
  // wait their turn, so a session's capacity is 1000/ms batches per second.
  let turn: Promise<unknown> = Promise.resolve();
  return (_model, inputs, signal) => {
    const run = turn.then(() => new Promise<TensorMap>((resolve, reject) => {
      if (signal.aborted) return reject(new TesseraError('aborted', 'batch cancelled'));
      const timer = setTimeout(() => resolve(inputs.x ? { y: inputs.x } : inputs), ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new TesseraError('aborted', 'batch cancelled'));
      }, { once: true });
    }));
    turn = run.catch(() => undefined);
    return run;
  };
}

const SIMULATED_SPEC: TensorSpec[] = [{ name: 'x', type: 'float32', shape: [-1, -1] }];

/** Engine metadata -> API specs (symbolic dims are dynamic, -1). */
function specsOf(values: ValueInfo[]): TensorSpec[] | undefined {
  if (!values.every((v) => v.type !== undefined && v.shape !== undefined)) return undefined;
  return values.map((v) => ({ name: v.name, type: v.type as TensorType, shape: (v.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) }));
}

/** The compute deadline of one batch when none is given: the coordinator's own request deadline (30 s), after which nobody waits for the answer. */
export const DEFAULT_COMPUTE_TIMEOUT_MS = 30_000;

/** A joined session and what it runs on. */
export interface ServeSession extends SessionClient {
  /** `cpu`, `wasm`, `cuda`, ... or `simulated`. */
  readonly device: string;
  /** Why that device: `cpu: onnxruntime-node 1.30.0, 2 threads`. */
  readonly deviceReason: string;
  /** Requests per second declared at join (measured by a warm-up run). */
  readonly requestsPerSecond: number;
  /** Compute workers replaced after a compute timeout or a crash. */
  readonly restarts: number;
}

/**
 * How long past the coordinator's deadline a batch may still compute before
 * the session kills its worker: the answer is dropped either way, but a
 * restart reloads every model, which costs more than letting a batch that is
 * only slightly late finish. A stuck batch is still stopped.
 */
const DEADLINE_GRACE_MS = 5_000;

/**
 * Loads (or simulates) the models and joins the coordinator. Real models run
 * in an engine child process (src/transport/compute-host.ts), so this
 * thread, which holds the coordinator socket and its heartbeats, never runs a
 * model; a batch that computes longer than `computeTimeoutMs` fails with
 * `timeout` and its worker is replaced.
 *
 * @example
 * const session = await serve({ coordinator: 'http://127.0.0.1:8787', models: ['echo'], joinToken: 't', simulateMs: 20 });
 * await session.joined();
 */
export async function serve(options: ServeOptions): Promise<ServeSession> {
  const maxInFlight = options.maxInFlight ?? 1;
  if (options.simulateTokenMs !== undefined) return simulatedGenerationSession(options, options.simulateTokenMs);
  if (options.simulateMs !== undefined) {
    const maxBatch = options.maxBatch ?? 1;
    const offers = options.models.map((name) => ({ name, revision: 'simulated', maxBatch, inputs: SIMULATED_SPEC, outputs: [{ name: 'y', type: 'float32' as const, shape: [-1, -1] }] }));
    const requestsPerSecond = (1000 / options.simulateMs) * maxInFlight;
    const session = join(options, offers, 'simulated', simulatedModel(options.simulateMs), requestsPerSecond);
    return describeSession(session, { device: 'simulated', deviceReason: 'simulated: echo model', requestsPerSecond, restarts: () => 0, close: () => session.close() });
  }
  const host = await startServeCompute(options);
  try {
    const served = [...host.served.values()];
    const offers = served.map((s) => s.offer);
    const first = served[0];
    const device = first?.device ?? 'wasm';
    const signal = options.signal ?? new AbortController().signal;
    const measured = await measureCapacity(offers, (model, inputs) => host.run(model, inputs, signal), maxInFlight);
    // Decoder packs answer generate requests through the same compute worker.
    const runGenerate: RunGenerate | undefined = served.some((s) => s.generate) ? (model, request, onChunk, genSignal) => host.generate(model, request, onChunk, genSignal) : undefined;
    const session = join(options, offers, device, (model, inputs, runSignal, deadlineMs) => host.run(model, inputs, runSignal, deadlineMs === undefined ? undefined : deadlineMs + DEADLINE_GRACE_MS), measured.requestsPerSecond, runGenerate);
    // Aborting closes the session (connectSession); the engine process goes with it.
    options.signal?.addEventListener('abort', () => void host.close(), { once: true });
    return describeSession(session, {
      device, deviceReason: first?.deviceReason ?? '', requestsPerSecond: measured.requestsPerSecond, restarts: () => host.restarts,
      close: async () => {
        await session.close();
        await host.close();
      },
    });
  } catch (err) {
    await host.close();
    throw err;
  }
}

/**
 * The engine process with the served models loaded: the part of `serve` that
 * `tessera serve` and any other Node session (e.g. one serving generation
 * models) share. Manifests are resolved once, so a replacement worker loads the
 * same revisions the session joined with.
 *
 * @example
 * const host = await startServeCompute({ coordinator, models: ['ppocr-v4'], joinToken, device: 'cpu' });
 * const { json } = await host.run('ppocr-v4', { image }, signal);
 */
export async function startServeCompute(options: ServeOptions): Promise<ComputeHost> {
  const base = options.coordinator.replace(/\/+$/, '');
  const { fetchManifestSource } = await import('../../fetch/fetch-manifest.ts');
  const manifests = await Promise.all(options.models.map(async (name) => {
    // Files resolve where the Worker says the current manifest lives (its revision, via Content-Location).
    const pinned = options.revisions?.[name];
    const url = `${base}/models/${encodeURIComponent(name)}/${pinned === undefined ? '' : `${encodeURIComponent(pinned)}/`}manifest.json`;
    const { manifest, manifestUrl } = await fetchManifestSource(url, { signal: options.signal });
    return { name, manifest, manifestUrl };
  }));
  const { startComputeHost } = await import('../../transport/compute-host.ts');
  const { spawnNodeEngineProcess } = await import('../../transport/node-engine-process-client.ts');
  return startComputeHost({
    spawn: () => spawnNodeEngineProcess(options.threads === undefined ? {} : { threads: options.threads }),
    load: (engine) => loadServed(engine, base, manifests, options),
    computeTimeoutMs: options.computeTimeoutMs ?? DEFAULT_COMPUTE_TIMEOUT_MS,
    ...(options.onComputeEvent ? { onEvent: options.onComputeEvent } : {}),
  });
}

/**
 * Loads each model into `engine` (a pipeline pack as its pipeline) and says
 * how it is served.
 *
 * @example
 * const served = await loadServed(engine, 'http://127.0.0.1:8787', [{ name: 'mlp', manifest }], { device: 'cpu' });
 */
export async function loadServed(
  engine: Engine,
  base: string,
  manifests: { name: string; manifest: PackManifest; manifestUrl?: string }[],
  options: Pick<ServeOptions, 'signal' | 'cache' | 'device' | 'onProgress' | 'maxBatch'>,
): Promise<Map<string, ServedModel>> {
  const { isPipelinePack } = await import('../../engine/pipelines/pipeline-config.ts');
  const { ocrServable } = await import('../../engine/pipelines/ocr-servable.ts');
  const maxBatch = options.maxBatch ?? 1;
  return new Map(await Promise.all(manifests.map(async ({ name, manifest, manifestUrl }) => {
    // The current manifest moves on publish; the files live under its immutable revision.
    const loadOptions: LoadOptions = {
      baseUrl: manifestUrl ?? `${base}/models/${encodeURIComponent(name)}/${manifest.revision}/manifest.json`,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.cache ? { cache: options.cache } : {}),
      device: options.device ?? 'auto',
      ...(options.onProgress ? { onProgress: (p: LoadProgress) => options.onProgress?.(name, p) } : {}),
    };
    // A decoder pack serves generate requests (OpenAI chat/completions), not infer batches.
    if (isGenerationPack(manifest)) return [name, await generationServable(engine, name, manifest, loadOptions)] as const;
    // A pipeline pack (tessera.json, e.g. ppocr-v4) is served with its own request format.
    if (isPipelinePack(manifest)) {
      const pipeline = await engine.loadPipeline('ocr', manifest, loadOptions);
      return [name, { device: pipeline.device, deviceReason: pipeline.deviceReason, ...ocrServable(name, pipeline) }] as const;
    }
    const h = await engine.load(manifest, loadOptions);
    const inputs = specsOf(h.inputMetadata);
    const offer: ModelOffer = { name, revision: h.manifest.revision, maxBatch, ...(inputs ? { inputs } : {}) };
    return [name, { device: h.device, deviceReason: h.deviceReason, offer, run: (feeds: TensorMap, signal: AbortSignal) => h.run(feeds, { signal }) }] as const;
  })));
}

/** Simulated text generation for every named model: `generate` only, no `infer` batches. */
function simulatedGenerationSession(options: ServeOptions, tokenMs: number): ServeSession {
  const runModel: RunModel = (model) => Promise.reject(new TesseraError('invalid-argument', `model "${model}" is a text-generation model; use /v1/chat/completions`));
  // One generation takes about maxNewTokens x tokenMs; the default 16 tokens sets the prior.
  const requestsPerSecond = (1000 / (16 * tokenMs)) * (options.maxInFlight ?? 1);
  const session = join(options, simulatedGenerationOffers(options.models), 'simulated', runModel, requestsPerSecond, simulatedGenerator(tokenMs));
  return describeSession(session, { device: 'simulated', deviceReason: `simulated: text generation, ${tokenMs} ms per token`, requestsPerSecond, restarts: () => 0, close: () => session.close() });
}

function join(options: ServeOptions, offers: ModelOffer[], device: string, runModel: RunModel, requestsPerSecond: number, runGenerate?: RunGenerate): SessionClient {
  return connectSession({
    url: options.coordinator, token: options.joinToken, models: offers, device, runModel,
    ...(runGenerate ? { runGenerate } : {}),
    capacity: { maxInFlight: options.maxInFlight ?? 1, requestsPerSecond },
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.prewarmed ? { prewarmed: true } : {}),
  });
}

/** The session client with what it runs on; close() also ends the compute worker. */
function describeSession(
  session: SessionClient,
  info: { device: string; deviceReason: string; requestsPerSecond: number; restarts: () => number; close: () => Promise<void> },
): ServeSession {
  return {
    get sessionId() { return session.sessionId; },
    get state() { return session.state; },
    get running() { return session.running; },
    joined: () => session.joined(),
    setModels: (models) => session.setModels(models),
    close: info.close,
    device: info.device,
    deviceReason: info.deviceReason,
    requestsPerSecond: info.requestsPerSecond,
    get restarts() { return info.restarts(); },
  };
}

const positiveInt = (value: string, flag: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new TesseraError('invalid-argument', `${flag} must be a positive integer, got "${value}"`);
  return n;
};

export const registerServe: RegisterCommand = (program, context) => {
  program
    .command('serve')
    .description('join a Tessera coordinator as a session and run the inference requests it sends')
    .requiredOption('--coordinator <url>', 'the Worker, e.g. http://127.0.0.1:8787')
    .option('--models <names>', 'comma-separated model names to load and serve (optional with --prewarm)')
    .option('--join-token <token>', 'session join token (default: $TESSERA_JOIN_TOKEN)')
    .option('--simulate-ms <n>', 'serve an echo model taking n ms per batch instead of loading models')
    .option('--simulate-token-ms <n>', 'serve simulated text-generation models taking n ms per token instead of loading models')
    .option('--max-in-flight <n>', 'batches run at once', '1')
    .option('--max-batch <n>', 'largest batch accepted per model', '1')
    .option('--device <device>', DEVICE_FLAG_HELP, 'auto')
    .option('--threads <n>', "intra-op threads of native cpu sessions (default: the machine's cores)")
    .option('--compute-timeout <ms>', 'a batch computing longer fails with timeout and the compute worker is restarted', String(DEFAULT_COMPUTE_TIMEOUT_MS))
    .option('--prewarm <models|all>', 'also offer to load these models (comma-separated, or all) when the coordinator asks, under demand')
    .option('--prewarm-budget <size>', 'with --prewarm: the most model bytes the coordinator may have this session load, e.g. 512MiB')
    .action(async (flags: { coordinator: string; models?: string; joinToken?: string; simulateMs?: string; simulateTokenMs?: string; maxInFlight: string; maxBatch: string; device: string; threads?: string; computeTimeout: string; prewarm?: string; prewarmBudget?: string }) => {
      const joinToken = flags.joinToken ?? process.env.TESSERA_JOIN_TOKEN;
      if (!joinToken) throw new TesseraError('invalid-argument', 'no join token: pass --join-token or set TESSERA_JOIN_TOKEN');
      const models = (flags.models ?? '').split(',').map((m) => m.trim()).filter(Boolean);
      const prewarm = flags.prewarm === undefined ? undefined : { models: parsePrewarmFlag(flags.prewarm), budgetBytes: parsePrewarmBudget(flags.prewarmBudget) };
      if (prewarm === undefined && flags.prewarmBudget !== undefined) throw new TesseraError('invalid-argument', '--prewarm-budget needs --prewarm <models|all>');
      if (prewarm !== undefined && (flags.simulateMs !== undefined || flags.simulateTokenMs !== undefined)) {
        throw new TesseraError('invalid-argument', '--prewarm loads real models: it cannot be combined with --simulate-ms or --simulate-token-ms');
      }
      if (models.length === 0 && prewarm === undefined) throw new TesseraError('invalid-argument', '--models needs at least one model name (or pass --prewarm to only offer to load models on request)');
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const options: ServeOptions = {
        coordinator: flags.coordinator, models, joinToken, signal: controller.signal,
        maxInFlight: positiveInt(flags.maxInFlight, '--max-in-flight'), maxBatch: positiveInt(flags.maxBatch, '--max-batch'),
        ...(flags.simulateMs !== undefined ? { simulateMs: positiveInt(flags.simulateMs, '--simulate-ms') } : {}),
        ...(flags.simulateTokenMs !== undefined ? { simulateTokenMs: positiveInt(flags.simulateTokenMs, '--simulate-token-ms') } : {}),
        device: parseDeviceFlag(flags.device),
        ...(flags.threads !== undefined ? { threads: parseThreadsFlag(flags.threads) } : {}),
        computeTimeoutMs: positiveInt(flags.computeTimeout, '--compute-timeout'),
        onComputeEvent: (e) => {
          if (e.type === 'restarting') context.stderr.write(`compute worker restarting: ${e.why}\n`);
          else if (e.type === 'ready' && e.generation > 1) context.stderr.write(`compute worker ready again (models reloaded in ${e.loadMs} ms)\n`);
          else if (e.type === 'load-failed') context.stderr.write(`compute worker could not reload the models: ${e.message}\n`);
        },
        onEvent: (e) => {
          if (e.type === 'joined') context.stderr.write(`joined ${flags.coordinator} as session ${e.sessionId}, serving ${models.join(', ')}\n`);
          else if (e.type === 'disconnected') context.stderr.write(`disconnected (${e.code} ${e.reason})${e.retryInMs !== undefined ? `; retrying in ${e.retryInMs} ms` : ''}\n`);
          else if (e.type === 'protocol-error') context.stderr.write(`coordinator: ${e.message}\n`);
        },
      };
      const session = models.length > 0 ? await serve(options) : undefined;
      if (session) context.stderr.write(`device ${session.device} (${session.deviceReason}); declared capacity ${session.requestsPerSecond} requests/s (measured)\n`);
      // Once per prewarmed model: the moment it starts taking load (the benchmark reads it).
      const servedFirst = new Set<string>();
      const standby = prewarm === undefined ? undefined : startNodeStandby({
        serve: options, serveFn: serve, models: prewarm.models, budgetBytes: prewarm.budgetBytes,
        device: session?.device ?? flags.device,
        onEvent: (e) => {
          const line = standbyEventLine(e, prewarm.budgetBytes);
          if (line) context.stderr.write(`${line}\n`);
          if (e.type === 'unloaded' || e.type === 'failed') servedFirst.delete(e.model);
        },
        onSessionEvent: (model, e) => {
          if (e.type === 'joined') context.stderr.write(`prewarm: joined the ${model} pool as session ${e.sessionId}\n`);
          else if ((e.type === 'infer' || e.type === 'generate') && !servedFirst.has(model)) {
            servedFirst.add(model);
            context.stderr.write(`prewarm: ${model} served its first request\n`);
          }
          else if (e.type === 'disconnected') context.stderr.write(`prewarm: ${model} session disconnected (${e.code} ${e.reason})\n`);
        },
      });
      await Promise.all([session?.joined(), standby?.standingBy()]);
      // Serve until SIGINT/SIGTERM closes the session.
      await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
      await Promise.all([session?.close(), standby?.close()]);
    });
};
