import { describe, expect, it } from 'vitest';
import type { PackFile, PackManifest } from './manifest.ts';
import { modelKind } from './model-kind.ts';

const file = (path: string): PackFile => ({ path, size: 1, sha256: '0'.repeat(64), role: 'other', chunks: [] });
const manifest = (kind: PackManifest['kind'], paths: string[]) => ({ kind, files: paths.map(file) });

describe('modelKind', () => {
  it('a pack with tessera.json is the OCR pipeline, whatever its layout', () => {
    expect(modelKind(manifest('hf', ['tessera.json', 'det.onnx', 'rec.onnx', 'cls.onnx', 'keys.txt']))).toBe('ocr');
    expect(modelKind(manifest('onnx', ['tessera.json', 'model.onnx']))).toBe('ocr');
  });

  it('an HF folder with generation_config.json is a text-generation model', () => {
    expect(modelKind(manifest('hf', ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']))).toBe('text-generation');
  });

  it('an HF folder without it is a transformers.js pipeline; a nested generation_config.json does not count', () => {
    expect(modelKind(manifest('hf', ['config.json', 'tokenizer.json', 'onnx/model.onnx']))).toBe('hf');
    expect(modelKind(manifest('hf', ['config.json', 'onnx/generation_config.json', 'onnx/model.onnx']))).toBe('hf');
  });

  it('a single-graph pack is a raw ONNX model', () => {
    expect(modelKind(manifest('onnx', ['model.onnx', 'model.onnx.data']))).toBe('onnx');
  });
});
