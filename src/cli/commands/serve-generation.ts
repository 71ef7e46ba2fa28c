/**
 * Text generation for `tessera serve`: decoder packs served through the
 * engine's generator (in the session's compute worker), and the simulated generator
 * (`--simulate-token-ms N`), which is what the coordinator benchmark and the
 * Worker tests serve to measure and exercise the coordinator alone, with a
 * fixed time per token and a tokenizer whose counts are easy to check.
 */
import { TesseraError } from '../../errors.ts';
import type { ModelOffer } from '../../protocol/coordinator-messages.ts';
import type { Engine, LoadGeneratorOptions } from '../../engine/engine.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import type { GenerateRequest, GenerateResult } from '../../protocol/generation.ts';
import type { ServedModel } from '../../transport/compute-host.ts';
import type { RunGenerate } from '../../transport/session-client.ts';
import { generationOffer, generationRunner } from '../../transport/generation-runner.ts';

/**
 * Whether a pack is a decoder for text generation: a Hugging Face-layout pack
 * with `generation_config.json` (what Optimum exports of causal LMs carry).
 *
 * @example
 * if (isGenerationPack(manifest)) served.set(name, await generationServable(engine, name, manifest, loadOptions));
 */
export function isGenerationPack(manifest: PackManifest): boolean {
  return manifest.kind === 'hf' && manifest.files.some((f) => f.path === 'generation_config.json');
}

/**
 * Loads a decoder pack with the engine and serves it: the offer says
 * `text-generation`, the context length and the tokenizer's longest token
 * (so the Worker refuses prompts that provably cannot fit); each request runs
 * through the generation runner a browser tab uses too
 * (src/transport/generation-runner.ts: counted first, empty chunks not sent).
 *
 * @example
 * const served = await generationServable(engine, 'llama', manifest, { baseUrl });
 */
export async function generationServable(
  engine: Pick<Engine, 'loadGenerator'>,
  name: string,
  manifest: PackManifest,
  loadOptions: LoadGeneratorOptions,
): Promise<ServedModel> {
  const generator = await engine.loadGenerator(manifest, loadOptions);
  return {
    device: generator.device,
    deviceReason: generator.deviceReason,
    offer: generationOffer({ name, revision: manifest.revision, contextLength: generator.contextLength, maxTokenBytes: generator.maxTokenBytes }),
    run: () => Promise.reject(new TesseraError('invalid-argument', `model "${name}" is a text-generation model; use /v1/chat/completions or /v1/completions`)),
    generate: generationRunner(name, generator, generator.contextLength),
  };
}

/** The simulated model's limits, as its offer declares them. */
export const SIMULATED_CONTEXT_LENGTH = 2048;
export const SIMULATED_MAX_NEW_TOKENS = 1024;
/** New tokens when a request sets no max_tokens. */
export const SIMULATED_DEFAULT_NEW_TOKENS = 16;

/**
 * The simulated tokenizer: one token per Unicode code point, chat messages
 * rendered as `role: content\n` lines and an `assistant: ` cue.
 *
 * @example
 * simulatedPrompt({ messages: [{ role: 'user', content: 'hi' }] }); // 'user: hi\nassistant: '
 */
export function simulatedPrompt(request: GenerateRequest): string {
  if ('prompt' in request) return request.prompt;
  return request.messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant: ';
}

/** Offers for simulated generation models. */
export function simulatedGenerationOffers(names: string[]): ModelOffer[] {
  return names.map((name) => ({
    name, revision: 'simulated', maxBatch: 1, task: 'text-generation', contextLength: SIMULATED_CONTEXT_LENGTH,
    maxNewTokens: SIMULATED_MAX_NEW_TOKENS,
    // A code point is at most 4 UTF-8 bytes.
    maxTokenBytes: 4,
  }));
}

/**
 * A deterministic generator taking `tokenMs` per token: it repeats the last
 * message (or the prompt) one code point per token, honours `maxNewTokens`
 * and `stop` (text that could begin a stop string is held back until it
 * cannot, so a stop string never streams), and stops within one token of an
 * abort.
 *
 * @example
 * const run = simulatedGenerator(5);
 * await run('sim', { prompt: 'abc', maxNewTokens: 4 }, (c) => process.stdout.write(c.text), signal); // 'abca'
 */
export function simulatedGenerator(tokenMs: number): RunGenerate {
  return async (_model, request, onChunk, signal) => {
    const started = performance.now();
    const prompt = [...simulatedPrompt(request)];
    if (prompt.length >= SIMULATED_CONTEXT_LENGTH) {
      throw new TesseraError('invalid-argument', `the prompt has ${prompt.length} tokens; the context holds ${SIMULATED_CONTEXT_LENGTH}`, { details: { promptTokens: prompt.length, contextLength: SIMULATED_CONTEXT_LENGTH } });
    }
    const source = [...('prompt' in request ? request.prompt : (request.messages.at(-1)?.content ?? ''))];
    if (source.length === 0) source.push(...'tessera ');
    const max = Math.min(request.maxNewTokens ?? SIMULATED_DEFAULT_NEW_TOKENS, SIMULATED_CONTEXT_LENGTH - prompt.length);
    const stops = request.stop ?? [];
    let text = '';
    let sent = 0;
    let tokens = 0;
    let firstAt: number | undefined;
    let finishReason: GenerateResult['finishReason'] = 'length';
    while (tokens < max) {
      await sleep(tokenMs, signal);
      const piece = source[tokens % source.length] as string;
      tokens += 1;
      text += piece;
      const hit = firstStop(text, stops);
      if (hit !== undefined) {
        text = text.slice(0, hit);
        finishReason = 'stop';
        break;
      }
      const safe = text.length - heldBack(text, stops);
      if (safe > sent) {
        firstAt ??= performance.now();
        onChunk({ text: text.slice(sent, safe), tokenIds: [piece.codePointAt(0) as number] });
        sent = safe;
      }
    }
    if (text.length > sent) {
      firstAt ??= performance.now();
      onChunk({ text: text.slice(sent), tokenIds: [] });
    }
    const done = performance.now();
    return {
      text, finishReason, promptTokens: prompt.length, completionTokens: tokens,
      timeToFirstTokenMs: (firstAt ?? done) - started, totalMs: done - started,
    };
  };
}

/** Index of the earliest stop string in `text`, if any. */
function firstStop(text: string, stops: string[]): number | undefined {
  let at: number | undefined;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at === undefined || i < at)) at = i;
  }
  return at;
}

/** Length of the longest suffix of `text` that is a proper prefix of a stop string (it may yet become one). */
function heldBack(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new TesseraError('aborted', 'generation cancelled'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new TesseraError('aborted', 'generation cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
