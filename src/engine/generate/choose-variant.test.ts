import { describe, expect, it } from 'vitest';
import type { PackManifest } from '../../pack/manifest.ts';
import { chooseVariant, manifestForVariant } from './choose-variant.ts';

const file = (path: string, size = 10) => ({ path, size, sha256: 'x'.repeat(64), role: 'other' as const, chunks: [] });
function manifest(graphs: string[]): PackManifest {
  const files = [file('config.json'), file('tokenizer.json'), ...graphs.flatMap((g) => [file(g), file(`${g}.data`, 1000)])];
  return { name: 'llm', revision: 'r'.repeat(64), kind: 'hf', chunkSize: 1024, totalBytes: 0, graphs: graphs.map((path) => ({ path, externalData: [`${path}.data`] })), files } as unknown as PackManifest;
}

describe('chooseVariant', () => {
  const m = manifest(['onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_q4.onnx', 'onnx/model_quantized.onnx']);

  it('takes the dtype asked for, else fp32, fp16, q8, q4 in that order', () => {
    expect(chooseVariant(m, 'q4')).toEqual({ dtype: 'q4', graphIndex: 2, path: 'onnx/model_q4.onnx' });
    expect(chooseVariant(m, 'q8').path).toBe('onnx/model_quantized.onnx');
    expect(chooseVariant(m).dtype).toBe('fp32');
    expect(chooseVariant(manifest(['onnx/model_q4.onnx', 'onnx/model_fp16.onnx'])).dtype).toBe('fp16');
  });

  it('says which variants exist when the one asked for does not', () => {
    expect(() => chooseVariant(manifest(['onnx/model.onnx']), 'q4')).toThrow(/no q4 variant; it has fp32 \(onnx\/model.onnx\)/);
  });

  it('cuts the manifest to one variant and the shared files', () => {
    const slim = manifestForVariant(m, 1);
    expect(slim.files.map((f) => f.path)).toEqual(['config.json', 'tokenizer.json', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx.data']);
    expect(slim.graphs).toEqual([{ path: 'onnx/model_fp16.onnx', externalData: ['onnx/model_fp16.onnx.data'] }]);
    expect(slim.totalBytes).toBe(1030);
  });
});
