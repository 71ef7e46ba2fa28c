/**
 * Shapes shared by the OCR pipeline. The pipeline is pure TypeScript over
 * plain data, so the same code runs in Node, workers and pages; the models
 * are reached only through injected {@link RunModel} functions.
 */
import type { TensorData } from '../../protocol/tensor.ts';

export type { TensorData };

/**
 * Runs one model: named input tensors in, named output tensors out. The OCR
 * models each take one input `x` (NCHW float32) and give one output, so the
 * pipeline reads the first output whatever its name.
 */
export type RunModel = (feeds: Record<string, TensorData>) => Promise<Record<string, TensorData>>;

/** The three PP-OCR models as runners. */
export interface OcrRunners {
  det: RunModel;
  cls: RunModel;
  rec: RunModel;
}

/** An RGBA image, the same layout as DOM `ImageData` (which satisfies it). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export type Point = [x: number, y: number];

/** Four corners in order: top-left, top-right, bottom-right, bottom-left. */
export type Quad = [Point, Point, Point, Point];

export interface OcrLine {
  text: string;
  /** Corners in the original image's pixels, clockwise from top-left. */
  box: Quad;
  /** Mean of the recogniser's per-character probabilities, 0..1. */
  score: number;
}

export interface OcrTimings {
  detMs: number;
  clsMs: number;
  recMs: number;
}

export interface OcrResult {
  /** The lines' text joined by '\n', in reading order. */
  text: string;
  lines: OcrLine[];
  timings: OcrTimings;
}
