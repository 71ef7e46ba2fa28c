/** GET /models: every published model with its current revision and its kind (src/pack/model-kind.ts). */
import { describe, expect, it } from 'vitest';
import { buildManifest } from '../../src/pack/build-manifest.ts';
import { bytes, get, makePack, publish, type TestPack } from './fixtures.ts';

async function hfPack(name: string, paths: string[]): Promise<TestPack> {
  const files = paths.map((path, i) => ({ path, bytes: bytes(100 + i, i + 1) }));
  const manifest = await buildManifest({
    name,
    kind: 'hf',
    graphs: [{ path: 'onnx/model.onnx', externalData: [] }],
    files: files.map((f) => ({ ...f, role: f.path.endsWith('.onnx') ? 'graph' : 'other' })),
    chunkSize: 4096,
  });
  return { manifest, files: new Map(files.map((f) => [f.path, f.bytes])) };
}

export function catalogueSuite(): void {
  describe('catalogue', () => {
    it('lists each model with its kind, so pages pick chat, OCR, pipeline or raw before loading', async () => {
      const chat = await hfPack('cat-chat', ['config.json', 'generation_config.json', 'tokenizer.json', 'onnx/model.onnx']);
      const encoder = await hfPack('cat-encoder', ['config.json', 'tokenizer.json', 'onnx/model.onnx']);
      const raw = await makePack('cat-raw', [{ path: 'model.onnx', bytes: bytes(64, 9) }]);
      for (const pack of [chat, encoder, raw]) await publish(pack);
      const body = (await (await get('/models')).json()) as { models: { name: string; revision: string; kind?: string }[] };
      const mine = body.models.filter((m) => m.name.startsWith('cat-'));
      expect(mine).toEqual([
        { name: 'cat-chat', revision: chat.manifest.revision, kind: 'text-generation' },
        { name: 'cat-encoder', revision: encoder.manifest.revision, kind: 'hf' },
        { name: 'cat-raw', revision: raw.manifest.revision, kind: 'onnx' },
      ]);
    });
  });
}
