/**
 * Renders known text into an RGBA image for OCR accuracy tests: dark text on
 * a light background, any system font, optionally rotated about its centre.
 * Works in Node (@napi-rs/canvas, a prebuilt Skia) and in browsers
 * (OffscreenCanvas), so both test projects draw the same way.
 *
 * Fonts: the tests use DejaVu (Debian package fonts-dejavu-core) and
 * Liberation (fonts-liberation); both canvases find them through the
 * system's font directories.
 */
import type { RgbaImage } from '../../src/engine/ocr/types.ts';

export interface RenderTextOptions {
  lines: string[];
  /** CSS font family, e.g. 'DejaVu Sans'. */
  family: string;
  /** Font size in pixels. */
  size: number;
  weight?: 'normal' | 'bold';
  style?: 'normal' | 'italic';
  /** Clockwise rotation in degrees. */
  angle?: number;
  /** Margin around the text in pixels. Default: one font size. */
  margin?: number;
  /** Baseline-to-baseline distance as a multiple of size. Default 1.6. */
  lineHeight?: number;
  color?: string;
  background?: string;
}

interface Context2d {
  font: string;
  fillStyle: unknown;
  textBaseline: string;
  measureText(text: string): { width: number };
  fillRect(x: number, y: number, w: number, h: number): void;
  fillText(text: string, x: number, y: number): void;
  translate(x: number, y: number): void;
  rotate(radians: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
}

export type CanvasFactory = (width: number, height: number) => { getContext(kind: '2d'): unknown };

async function defaultFactory(): Promise<CanvasFactory> {
  if (typeof OffscreenCanvas === 'function') return (w, h) => new OffscreenCanvas(w, h);
  // A variable specifier keeps the browser bundler from following this Node-only import.
  const specifier = '@napi-rs/canvas';
  const canvas = (await import(/* @vite-ignore */ specifier)) as { createCanvas: CanvasFactory };
  return canvas.createCanvas;
}

/**
 * @example
 * const image = await renderText({ lines: ['Hello world'], family: 'DejaVu Sans', size: 32, angle: 12 });
 */
export async function renderText(options: RenderTextOptions, factory?: CanvasFactory): Promise<RgbaImage> {
  const create = factory ?? (await defaultFactory());
  const font = `${options.style ?? 'normal'} ${options.weight ?? 'normal'} ${options.size}px "${options.family}"`;
  const lineHeight = options.size * (options.lineHeight ?? 1.6);
  const margin = options.margin ?? options.size;

  const measure = create(1, 1).getContext('2d') as Context2d;
  measure.font = font;
  const textWidth = Math.max(...options.lines.map((l) => measure.measureText(l).width));
  const textHeight = lineHeight * options.lines.length;

  const radians = ((options.angle ?? 0) * Math.PI) / 180;
  const cos = Math.abs(Math.cos(radians));
  const sin = Math.abs(Math.sin(radians));
  const width = Math.ceil(textWidth * cos + textHeight * sin + 2 * margin);
  const height = Math.ceil(textWidth * sin + textHeight * cos + 2 * margin);

  const ctx = create(width, height).getContext('2d') as Context2d;
  ctx.fillStyle = options.background ?? '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.translate(width / 2, height / 2);
  ctx.rotate(radians);
  ctx.font = font;
  ctx.fillStyle = options.color ?? '#111111';
  ctx.textBaseline = 'middle';
  options.lines.forEach((line, i) => {
    ctx.fillText(line, -textWidth / 2, -textHeight / 2 + lineHeight * (i + 0.5));
  });
  const data = ctx.getImageData(0, 0, width, height).data;
  return { width, height, data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.length) };
}
