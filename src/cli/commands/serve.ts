/**
 * `tessera serve --coordinator <url> --models <names>`: a Node process joins
 * the coordinator as a client session and runs the batches it is sent.
 * Models are loaded from the same Worker (`<url>/models/<name>/manifest.json`)
 * with the engine; `--simulate-ms N` instead serves an echo model that takes
 * N ms per batch (y = x), which is how the coordinator benchmark measures the
 * coordinator alone.
 */
import { TesseraError } from '../../errors.ts';
import type { ModelOffer, TensorSpec } from '../../protocol/coordinator-messages.ts';
import type { TensorMap, TensorType } from '../../protocol/tensor.ts';
import type { ValueInfo } from '../../protocol/device.ts';
import { connectSession, type RunModel, type SessionClient, type SessionClientEvent } from '../../transport/session-client.ts';
import type { RegisterCommand } from '../cli-context.ts';
import type { LoadOptions } from '../../engine/engine.ts';
import type { DeviceRequest } from '../../protocol/device.ts';
import type { LoadProgress } from '../../fetch/progress.ts';

export interface ServeOptions {
  coordinator: string;
  models: string[];
  joinToken: string;
  /** Simulated service time per batch; undefined: run the real models. */
  simulateMs?: number;
  maxInFlight?: number;
  maxBatch?: number;
  onEvent?: (event: SessionClientEvent) => void;
  signal?: AbortSignal;
  /** Where loaded weights are cached (default: the user's cache directory). */
  cache?: LoadOptions['cache'];
  /** Default `auto`. */
  device?: DeviceRequest;
  /** Loading progress per model (bytes, rate, from cache vs network). */
  onProgress?: (model: string, progress: LoadProgress) => void;
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

/**
 * Loads (or simulates) the models and joins the coordinator.
 *
 * @example
 * const session = await serve({ coordinator: 'http://127.0.0.1:8787', models: ['echo'], joinToken: 't', simulateMs: 20 });
 * await session.joined();
 */
export async function serve(options: ServeOptions): Promise<SessionClient> {
  const maxBatch = options.maxBatch ?? 1;
  let offers: ModelOffer[];
  let runModel: RunModel;
  let device: string;
  if (options.simulateMs !== undefined) {
    offers = options.models.map((name) => ({ name, revision: 'simulated', maxBatch, inputs: SIMULATED_SPEC, outputs: [{ name: 'y', type: 'float32', shape: [-1, -1] }] }));
    runModel = simulatedModel(options.simulateMs);
    device = 'simulated';
  } else {
    const { createEngine } = await import('../../transport/create-engine.ts');
    const engine = await createEngine({ transport: 'in-process' });
    const base = options.coordinator.replace(/\/+$/, '');
    const { fetchManifestSource } = await import('../../fetch/fetch-manifest.ts');
    const { isPipelinePack } = await import('../../engine/pipelines/pipeline-config.ts');
    const { ocrServable } = await import('../../engine/pipelines/ocr-servable.ts');
    const served = new Map(await Promise.all(options.models.map(async (name) => {
      const url = `${base}/models/${encodeURIComponent(name)}/manifest.json`;
      // Read once here to tell a pipeline pack from a plain model; files resolve where the Worker says (the revision).
      const { manifest, manifestUrl } = await fetchManifestSource(url, { signal: options.signal });
      const loadOptions: LoadOptions = {
        baseUrl: manifestUrl,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.cache ? { cache: options.cache } : {}),
        ...(options.device ? { device: options.device } : {}),
        ...(options.onProgress ? { onProgress: (p: LoadProgress) => options.onProgress?.(name, p) } : {}),
      };
      // A pipeline pack (tessera.json, e.g. ppocr-v4) is served with its own request format.
      if (isPipelinePack(manifest)) {
        const pipeline = await engine.loadPipeline('ocr', manifest, loadOptions);
        return [name, { device: pipeline.device, ...ocrServable(name, pipeline) }] as const;
      }
      const h = await engine.load(manifest, loadOptions);
      const inputs = specsOf(h.inputMetadata);
      const offer: ModelOffer = { name, revision: h.manifest.revision, maxBatch, ...(inputs ? { inputs } : {}) };
      return [name, { device: h.device, offer, run: (feeds: TensorMap, signal: AbortSignal) => h.run(feeds, { signal }) }] as const;
    })));
    offers = [...served.values()].map((s) => s.offer);
    runModel = (model, inputs, signal) => {
      const s = served.get(model);
      if (!s) return Promise.reject(new TesseraError('not-found', `this session does not serve model "${model}"`));
      return s.run(inputs, signal);
    };
    device = [...served.values()][0]?.device ?? 'wasm';
  }
  const maxInFlight = options.maxInFlight ?? 1;
  return connectSession({
    url: options.coordinator, token: options.joinToken, models: offers, device, runModel,
    capacity: { maxInFlight, requestsPerSecond: options.simulateMs ? (1000 / options.simulateMs) * maxInFlight : 10 },
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
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
    .requiredOption('--models <names>', 'comma-separated model names to load and serve')
    .option('--join-token <token>', 'session join token (default: $TESSERA_JOIN_TOKEN)')
    .option('--simulate-ms <n>', 'serve an echo model taking n ms per batch instead of loading models')
    .option('--max-in-flight <n>', 'batches run at once', '1')
    .option('--max-batch <n>', 'largest batch accepted per model', '1')
    .action(async (flags: { coordinator: string; models: string; joinToken?: string; simulateMs?: string; maxInFlight: string; maxBatch: string }) => {
      const joinToken = flags.joinToken ?? process.env.TESSERA_JOIN_TOKEN;
      if (!joinToken) throw new TesseraError('invalid-argument', 'no join token: pass --join-token or set TESSERA_JOIN_TOKEN');
      const models = flags.models.split(',').map((m) => m.trim()).filter(Boolean);
      if (models.length === 0) throw new TesseraError('invalid-argument', '--models needs at least one model name');
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const session = await serve({
        coordinator: flags.coordinator, models, joinToken, signal: controller.signal,
        maxInFlight: positiveInt(flags.maxInFlight, '--max-in-flight'), maxBatch: positiveInt(flags.maxBatch, '--max-batch'),
        ...(flags.simulateMs !== undefined ? { simulateMs: positiveInt(flags.simulateMs, '--simulate-ms') } : {}),
        onEvent: (e) => {
          if (e.type === 'joined') context.stderr.write(`joined ${flags.coordinator} as session ${e.sessionId}, serving ${models.join(', ')}\n`);
          else if (e.type === 'disconnected') context.stderr.write(`disconnected (${e.code} ${e.reason})${e.retryInMs !== undefined ? `; retrying in ${e.retryInMs} ms` : ''}\n`);
          else if (e.type === 'protocol-error') context.stderr.write(`coordinator: ${e.message}\n`);
        },
      });
      await session.joined();
      // Serve until SIGINT/SIGTERM closes the session.
      await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
      await session.close();
    });
};
