/**
 * Joins this tab to the coordinator as a session that serves a text-generation
 * model (the OpenAI chat/completions routes), only when the user asked for
 * it (a switch or a button). The tab's loaded generator (in the app, the one
 * its tabs share) runs each `generate` frame through the same runner as
 * `tessera serve` in Node: the prompt is counted first, chunks leave as they
 * decode, a `cancel` stops the loop within one step, and a failure is
 * answered with an `error` frame (the session client does the framing).
 */
import type { PackManifest } from '../pack/manifest.ts';
import { generationOffer, generationRunner, type RunnableGenerator } from '../transport/generation-runner.ts';
import { connectSession, type SessionClient, type SessionClientEvent, type WebSocketConstructor } from '../transport/session-client.ts';
import { TesseraError } from '../errors.ts';

export interface ServeGenerationOptions {
  /** The Worker's base URL (http(s)); the session socket is `/v1/sessions` there. */
  host: string;
  token: string;
  manifest: Pick<PackManifest, 'name' | 'revision'>;
  /** Prompt plus output tokens the model attends to (the loaded generator's). */
  contextLength: number;
  /** The loaded generator's longest token in UTF-8 bytes (its `maxTokenBytes`), for the offer's early prompt bound. */
  maxTokenBytes?: number | undefined;
  device: string;
  generator: RunnableGenerator;
  onEvent?: (event: SessionClientEvent) => void;
  /** Called after each generation this tab finished for the coordinator (not for a cancelled or failed one). */
  onServed?: () => void;
  /** Default: the global WebSocket. */
  WebSocket?: WebSocketConstructor;
}

/**
 * @example
 * const session = await serveGeneration({ host: location.origin, token, manifest, contextLength: 256, device: 'wasm', generator });
 * await session.joined();
 */
export async function serveGeneration(options: ServeGenerationOptions): Promise<SessionClient> {
  const { name, revision } = options.manifest;
  const run = generationRunner(name, options.generator, options.contextLength);
  return connectSession({
    url: options.host,
    token: options.token,
    models: [generationOffer({ name, revision, contextLength: options.contextLength, maxTokenBytes: options.maxTokenBytes })],
    device: options.device,
    // One generation at a time: the tab's decoder runs one loop.
    capacity: { maxInFlight: 1, requestsPerSecond: 1 },
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
    runModel: () => Promise.reject(new TesseraError('invalid-argument', `model "${name}" is a text-generation model; use /v1/chat/completions or /v1/completions`)),
    runGenerate: async (model, request, onChunk, signal) => {
      if (model !== name) throw new TesseraError('not-found', `this tab serves "${name}", not "${model}"`);
      const result = await run(request, onChunk, signal);
      if (!signal.aborted && result.finishReason !== 'abort') options.onServed?.();
      return result;
    },
  });
}
