/** generatorInfoOf: every info field of a generator, maxTokenBytes included when it has one, and none of its methods. */
import { describe, expect, it } from 'vitest';
import type { PackManifest } from '../../pack/manifest.ts';
import { generatorInfoOf, type GeneratorInfo } from './text-generator.ts';

const info: GeneratorInfo = {
  id: 'tiny@abc#1',
  manifest: { name: 'tiny' } as PackManifest,
  device: 'wasm',
  deviceReason: 'wasm: requested',
  modelType: 'llama',
  contextLength: 256,
  dtype: 'q4',
  graph: 'onnx/model_q4.onnx',
  maxTokenBytes: 13,
};

describe('generatorInfoOf', () => {
  it('keeps every info field and drops the methods', () => {
    const generator = { ...info, generate: () => undefined, countTokens: async () => 0, dispose: async () => {} };
    expect(generatorInfoOf(generator)).toEqual(info);
  });

  it('leaves maxTokenBytes out when the generator has none', () => {
    const { maxTokenBytes: _, ...rest } = info;
    const out = generatorInfoOf(rest);
    expect(out).toEqual(rest);
    expect('maxTokenBytes' in out).toBe(false);
  });
});
