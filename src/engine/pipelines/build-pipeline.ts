/**
 * A loaded pack -> the pipeline its `tessera.json` declares. Shared by every
 * transport: the in-process engine calls it, and the worker transport runs the
 * in-process engine inside its worker.
 */
import type { OrtSession, OrtSessionOptions } from '../../backend/ort.ts';
import { TesseraError } from '../../errors.ts';
import type { DeviceRequest } from '../../protocol/device.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { createOcrPipeline } from '../ocr/ocr-pipeline.ts';
import { PIPELINE_CONFIG_PATH, parsePipelineConfig, type PipelineKind } from './pipeline-config.ts';
import type { PipelineOf } from './pipeline.ts';

export interface BuildPipelineOptions {
  id: string;
  manifest: PackManifest;
  files: ReadonlyMap<string, Uint8Array>;
  device?: DeviceRequest;
  createSession: (options: OrtSessionOptions) => Promise<OrtSession>;
  signal?: AbortSignal;
}

/**
 * @example
 * const ocr = await buildPipeline('ocr', { id, manifest, files, device: 'auto', createSession: createOrtSession });
 */
export async function buildPipeline<K extends PipelineKind>(kind: K, options: BuildPipelineOptions): Promise<PipelineOf[K]> {
  const { manifest, files } = options;
  const bytes = files.get(PIPELINE_CONFIG_PATH);
  if (!bytes) {
    throw new TesseraError('invalid-manifest', `pack ${manifest.name} is not a pipeline: it has no ${PIPELINE_CONFIG_PATH}; load it with engine.load() instead`, {
      details: { name: manifest.name },
    });
  }
  const config = parsePipelineConfig(bytes, manifest);
  if (config.pipeline !== kind) {
    throw new TesseraError('invalid-argument', `pack ${manifest.name} is a "${config.pipeline}" pipeline, not "${kind}"`, { details: { name: manifest.name } });
  }
  switch (config.pipeline) {
    case 'ocr':
      return (await createOcrPipeline({
        id: options.id, manifest, files, config, createSession: options.createSession,
        ...(options.device ? { device: options.device } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      })) as PipelineOf[K];
    default: {
      const unknown: never = config.pipeline;
      throw new TesseraError('invalid-manifest', `unknown pipeline ${JSON.stringify(unknown)}`);
    }
  }
}
