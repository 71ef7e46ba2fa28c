/**
 * The PP-OCR pipeline over a loaded pack: three ONNX Runtime sessions (det,
 * cls, rec) on one device, the dictionary, and {@link recognize} between them.
 * The detector is created first with the requested device; the other two are
 * pinned to the device it got, so the three never straddle GPU and wasm (which
 * would copy every intermediate through the CPU and report a misleading device).
 */
import type { OrtSession, OrtSessionOptions } from '../../backend/ort.ts';
import { TesseraError, throwIfAborted } from '../../errors.ts';
import type { DeviceRequest } from '../../protocol/device.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { graphFiles } from '../graph-files.ts';
import type { OcrPipelineConfig } from '../pipelines/pipeline-config.ts';
import type { ImageInput, OcrCallOptions, OcrPipeline } from '../pipelines/pipeline.ts';
import { parseCharList } from './char-list.ts';
import { decodeImage } from './decode-image.ts';
import { recognize } from './recognize.ts';
import type { OcrRunners, RgbaImage } from './types.ts';

export interface CreateOcrPipelineOptions {
  id: string;
  manifest: PackManifest;
  /** Whole files by manifest path, from the loader. */
  files: ReadonlyMap<string, Uint8Array>;
  config: OcrPipelineConfig;
  device?: DeviceRequest;
  createSession: (options: OrtSessionOptions) => Promise<OrtSession>;
  signal?: AbortSignal;
}

/**
 * @example
 * const pipeline = await createOcrPipeline({ id, manifest, files, config, device: 'auto', createSession: createOrtSession });
 * const { text, lines } = await pipeline.recognize(pngBytes);
 */
export async function createOcrPipeline(options: CreateOcrPipelineOptions): Promise<OcrPipeline> {
  const { manifest, files, config, signal } = options;
  const graphOf = (path: string) => {
    const index = manifest.graphs.findIndex((g) => g.path === path);
    return graphFiles(manifest, files, index);
  };
  const keys = files.get(config.characters);
  if (!keys) throw new TesseraError('invalid-manifest', `pack ${manifest.name}: the loader returned no bytes for ${config.characters}`);
  const characters = parseCharList(new TextDecoder().decode(keys));

  const sessions: OrtSession[] = [];
  const release = async () => {
    await Promise.allSettled(sessions.map((s) => s.release()));
  };
  try {
    const det = await options.createSession({ ...graphOf(config.graphs.det), device: options.device ?? 'auto', ...(signal ? { signal } : {}) });
    sessions.push(det);
    for (const part of [config.graphs.cls, config.graphs.rec]) {
      throwIfAborted(signal);
      sessions.push(await options.createSession({ ...graphOf(part), device: det.device, ...(signal ? { signal } : {}) }));
    }
  } catch (error) {
    await release();
    throw error;
  }
  const [det, cls, rec] = sessions as [OrtSession, OrtSession, OrtSession];

  let disposed = false;
  const runners = (signal: AbortSignal | undefined): OcrRunners => {
    const run = (s: OrtSession) => (feeds: Parameters<OrtSession['run']>[0]) => s.run(feeds, signal ? { signal } : {});
    return { det: run(det), cls: run(cls), rec: run(rec) };
  };

  return {
    id: options.id,
    kind: 'ocr',
    manifest,
    device: det.device,
    deviceReason: det.reason,
    async recognize(input: ImageInput, call: OcrCallOptions = {}) {
      if (disposed) throw new TesseraError('session-closed', `pipeline ${options.id} was disposed; load it again to run it`, { details: { id: options.id } });
      throwIfAborted(call.signal);
      const image: RgbaImage = input instanceof Uint8Array ? await decodeImage(input) : input;
      return recognize(image, runners(call.signal), characters, {
        ...(call.classify === undefined ? {} : { classify: call.classify }),
        ...(call.dropScore === undefined ? {} : { dropScore: call.dropScore }),
        ...(call.signal ? { signal: call.signal } : {}),
      });
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await release();
    },
  };
}
