/**
 * A text-generation model as a page loads it: the current manifest from the
 * host (or, offline, the newest cached revision), then `engine.loadGenerator`
 * through Tessera's verified cache, on the engine that suits the page
 * (page-engine.ts).
 */
import type { ModelCache } from '../cache/model-cache.ts';
import type { Engine } from '../engine/engine.ts';
import { TesseraError } from '../errors.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import { modelKind } from '../pack/model-kind.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import { pageEngine } from './page-engine.ts';
import { pageLoadOptions } from './page-load-options.ts';
import { resolveManifest } from './resolve-manifest.ts';
import { generatorInfoOf, type TextGenerator } from '../engine/generate/text-generator.ts';

export interface PageGenerator extends TextGenerator {
  /** Where the manifest came from: the network, or the cache when offline. */
  manifestFrom: 'network' | 'cache';
  /** Where it decodes: `worker` (the page's thread stays free) or `in-process` (in the page's thread). */
  engine: Engine['transport'];
  /** Why there, e.g. `in-process: ...` when the page refused the worker (as `deviceReason` says why the device). */
  engineReason: string;
}

export interface LoadGeneratorOptions {
  /** `.../models/<name>/manifest.json`. */
  manifestUrl: string;
  cache: ModelCache;
  device?: DeviceRequest;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
  /** Default: {@link pageEngine} (a worker wherever one can start); disposed with the generator. */
  engine?: Engine;
}

/**
 * @example
 * const chat = await loadPageGenerator({ manifestUrl: 'https://t.example/models/tiny-llama/manifest.json', cache });
 * for await (const chunk of chat.generate({ messages: [{ role: 'user', content: 'Hi' }] })) out.textContent += chunk.text;
 */
export async function loadPageGenerator(options: LoadGeneratorOptions): Promise<PageGenerator> {
  const { cache, signal } = options;
  const { manifest, from, baseUrl } = await resolveManifest(options.manifestUrl, cache, options.fetch, signal);
  const kind = modelKind(manifest);
  if (kind !== 'text-generation') {
    const what = { ocr: 'the OCR pipeline (use tessera.ocr)', hf: 'a transformers.js model (use tessera.pipeline)', onnx: 'a raw ONNX model (use tessera.load)' }[kind];
    throw new TesseraError('invalid-argument', `${manifest.name} is ${what}, not a text-generation model (a Hugging Face-style pack with generation_config.json)`, {
      details: { model: manifest.name, kind },
    });
  }
  const load = (engine: Engine) => engine.loadGenerator(manifest, pageLoadOptions(engine, { ...options, baseUrl }));
  if (options.engine) return withSource(await load(options.engine), from, { transport: options.engine.transport, reason: "the caller's engine" }, async () => {});
  const engine = await pageEngine(options.manifestUrl, options.fetch);
  try {
    return withSource(await load(engine), from, { transport: engine.transport, reason: engine.transportReason }, () => engine.dispose());
  } catch (error) {
    await engine.dispose();
    throw error;
  }
}

/** The generator with where its manifest came from; disposing it also ends the engine it owns. */
function withSource(generator: TextGenerator, from: 'network' | 'cache', where: { transport: Engine['transport']; reason: string }, disposeEngine: () => Promise<void>): PageGenerator {
  return {
    ...generatorInfoOf(generator),
    manifestFrom: from,
    engine: where.transport,
    engineReason: where.reason,
    generate: (request, o) => generator.generate(request, o),
    countTokens: (input) => generator.countTokens(input),
    dispose: async () => {
      await generator.dispose();
      await disposeEngine();
    },
  };
}
