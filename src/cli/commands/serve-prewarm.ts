/**
 * `tessera serve --prewarm <models|all> --prewarm-budget <size>`: the Node
 * session also offers to load models on request. It holds a standby socket
 * to the directory (src/transport/standby-client.ts); when asked, it loads
 * the model at the asked revision through the normal loader in its own
 * engine process (like any `tessera serve` model: verified chunks, the local
 * cache, a compute deadline) and joins that model's pool as a session marked
 * `prewarmed`. On `unload` that session leaves its pool and its engine
 * process ends, which frees every byte of the model.
 *
 * One engine process per prewarmed model, rather than adding the model to
 * the process of the models served from the start: a compute-worker restart
 * reloads exactly what that worker held, and disposing of a prewarmed model
 * cannot disturb the others.
 */
import { TesseraError } from '../../errors.ts';
import type { LoadProgress } from '../../fetch/progress.ts';
import type { StandbyModels } from '../../protocol/standby-messages.ts';
import type { SessionClientEvent } from '../../transport/session-client.ts';
import { connectStandby, type PrewarmLoader, type StandbyClient, type StandbyClientEvent } from '../../transport/standby-client.ts';
import { formatBytes, parseSize } from '../parse-size.ts';

/**
 * The part of serve.ts's ServeOptions this file reads. serve() itself is
 * passed in (serve.ts imports this file for its flags, so importing serve.ts
 * back would be a cycle).
 */
export interface PrewarmServeOptions {
  coordinator: string;
  joinToken: string;
  /** The models the session serves from the start (never asked for). */
  models: string[];
  signal?: AbortSignal;
  onProgress?: (model: string, progress: LoadProgress) => void;
  revisions?: Record<string, string>;
  prewarmed?: boolean;
  simulateMs?: number;
  simulateTokenMs?: number;
  onEvent?: (event: SessionClientEvent) => void;
}

/** serve.ts's serve(), as this file uses it. */
export type ServeFn<O extends PrewarmServeOptions> = (options: O) => Promise<{ joined(): Promise<string>; close(): Promise<void> }>;

/**
 * `--prewarm all` or `--prewarm a,b`.
 *
 * @example
 * parsePrewarmFlag('all');      // 'all'
 * parsePrewarmFlag('mlp, ocr'); // ['mlp', 'ocr']
 */
export function parsePrewarmFlag(text: string): StandbyModels {
  if (text.trim().toLowerCase() === 'all') return 'all';
  const models = [...new Set(text.split(',').map((m) => m.trim()).filter(Boolean))];
  if (models.length === 0) throw new TesseraError('invalid-argument', `--prewarm "${text}" names no model: use "all" or a comma-separated list of model names`);
  return models;
}

/**
 * `--prewarm-budget`: a size (`512MiB`, `2GB`, bytes); required with `--prewarm`.
 *
 * @example
 * parsePrewarmBudget('64MiB'); // 67108864
 */
export function parsePrewarmBudget(text: string | undefined): number {
  if (text === undefined) throw new TesseraError('invalid-argument', '--prewarm needs --prewarm-budget <size>, the most model bytes the coordinator may have this session load (e.g. 512MiB)');
  return parseSize(text, '--prewarm-budget');
}

/**
 * Loads one asked model the way `tessera serve` loads its models and joins
 * its pool marked `prewarmed`; resolves once joined.
 *
 * @example
 * const load = nodePrewarmLoader({ coordinator, models: [], joinToken, device: 'cpu' }, serve);
 */
export function nodePrewarmLoader<O extends PrewarmServeOptions>(base: O, serve: ServeFn<O>, onSessionEvent?: (model: string, event: SessionClientEvent) => void): PrewarmLoader {
  if (base.simulateMs !== undefined || base.simulateTokenMs !== undefined) {
    throw new TesseraError('invalid-argument', '--prewarm loads real models: it cannot be combined with --simulate-ms or --simulate-token-ms');
  }
  // The base session's event printer names the base session's models: not these.
  const { onEvent: _onEvent, ...rest } = base;
  return async ({ model, revision, onProgress, signal }) => {
    const session = await serve({
      ...(rest as O),
      models: [model],
      revisions: { [model]: revision },
      prewarmed: true,
      ...(onSessionEvent ? { onEvent: (e: SessionClientEvent) => onSessionEvent(model, e) } : {}),
      signal: base.signal ? AbortSignal.any([base.signal, signal]) : signal,
      onProgress: (name, p) => {
        onProgress(p.bytesDone, p.bytesTotal);
        base.onProgress?.(name, p);
      },
    });
    try {
      await session.joined();
    } catch (err) {
      await session.close();
      throw err;
    }
    return { close: () => session.close() };
  };
}

export interface NodeStandbyOptions<O extends PrewarmServeOptions> {
  serve: O;
  /** serve.ts's serve(). */
  serveFn: ServeFn<O>;
  models: StandbyModels;
  budgetBytes: number;
  /** What the offer says it runs on (`cpu`, `cuda`, `wasm`, ...). */
  device: string;
  onEvent?: (event: StandbyClientEvent) => void;
  /** Events of the prewarmed models' pool sessions (joined, infer, ...), by model. */
  onSessionEvent?: (model: string, event: SessionClientEvent) => void;
}

/**
 * The standby socket of a Node session; models it serves from the start
 * (`serve.models`) are never asked for.
 *
 * @example
 * const standby = startNodeStandby({ serve: options, serveFn: serve, models: 'all', budgetBytes: 512 * 2 ** 20, device: 'cpu' });
 * await standby.standingBy();
 */
export function startNodeStandby<O extends PrewarmServeOptions>(options: NodeStandbyOptions<O>): StandbyClient {
  return connectStandby({
    url: options.serve.coordinator,
    token: options.serve.joinToken,
    device: options.device,
    budgetBytes: options.budgetBytes,
    models: options.models,
    serving: options.serve.models,
    load: nodePrewarmLoader(options.serve, options.serveFn, options.onSessionEvent),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.serve.signal ? { signal: options.serve.signal } : {}),
  });
}

/**
 * What `tessera serve` prints for a standby event (undefined: nothing).
 *
 * @example
 * standbyEventLine({ type: 'ready', model: 'mlp', loadMs: 812 }, 2 ** 29); // 'prewarm: mlp loaded in 812 ms and joined its pool'
 */
export function standbyEventLine(e: StandbyClientEvent, budgetBytes: number): string | undefined {
  switch (e.type) {
    case 'standing-by':
      return `offering to load models on request (budget ${formatBytes(budgetBytes)}) as standby ${e.sessionId}`;
    case 'prewarm':
      return `prewarm: the coordinator asked for ${e.model} (${e.revision.slice(0, 12)}, ${formatBytes(e.bytes)}); loading`;
    case 'ready':
      return `prewarm: ${e.model} loaded in ${e.loadMs} ms and joined its pool`;
    case 'failed':
      return `prewarm: ${e.model} failed: ${e.error.code}: ${e.error.message}`;
    case 'declined':
      return `prewarm: declined ${e.model}: ${e.reason}`;
    case 'unloaded':
      return `prewarm: unloaded ${e.model} (${e.reason})`;
    case 'disconnected':
      return `standby socket closed (${e.code} ${e.reason})${e.retryInMs !== undefined ? `; retrying in ${e.retryInMs} ms` : ''}`;
    case 'protocol-error':
      return `directory: ${e.message}`;
    default: {
      const never: never = e;
      return `standby: ${JSON.stringify(never)}`;
    }
  }
}
