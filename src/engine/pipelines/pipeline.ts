/**
 * Pipelines: several graphs of one pack that run together as one model (the
 * PP-OCR detector, direction classifier and recogniser). Like a ModelHandle,
 * a pipeline's info is plain data, the same on both sides of a worker.
 */
import type { Device } from '../../protocol/device.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import type { OcrResult, RgbaImage } from '../ocr/types.ts';
import type { PipelineKind } from './pipeline-config.ts';

export type { PipelineKind };

/** An image: encoded PNG/JPEG bytes, or decoded RGBA like DOM `ImageData`. */
export type ImageInput = Uint8Array | RgbaImage;

/** Per-call OCR settings; plain data so they cross into a worker. */
export interface OcrCallOptions {
  /** Run the direction classifier (turns upside-down lines). Default true. */
  classify?: boolean;
  /** Lines scored below this are dropped. Default 0.5. */
  dropScore?: number;
  signal?: AbortSignal;
  /**
   * Worker transport only: transfer the image's buffer instead of copying it
   * (the caller's array is detached afterwards). Default false.
   */
  transfer?: boolean;
}

export interface PipelineInfo {
  id: string;
  kind: PipelineKind;
  manifest: PackManifest;
  /** Every graph of the pipeline runs on this one device. */
  device: Device;
  deviceReason: string;
}

export interface OcrPipeline extends PipelineInfo {
  kind: 'ocr';
  /** Reads the text in an image: lines in reading order, each with its box and score. */
  recognize(image: ImageInput, options?: OcrCallOptions): Promise<OcrResult>;
  /** Releases the three sessions. Calls after this fail with `session-closed`. */
  dispose(): Promise<void>;
}

/** The pipeline type for each kind (one today; a union as kinds are added). */
export interface PipelineOf {
  ocr: OcrPipeline;
}
