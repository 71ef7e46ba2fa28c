import { describe, expect, it } from 'vitest';
import { buildManifest } from './build-manifest.ts';
import type { PackManifest } from './manifest.ts';
import { validateManifest, verifyRevision } from './validate-manifest.ts';

const good = (): Promise<PackManifest> =>
  buildManifest({
    name: 'mlp',
    kind: 'onnx',
    chunkSize: 4096,
    graphs: [{ path: 'model.onnx', externalData: ['model.onnx.data'] }],
    files: [
      { path: 'model.onnx', bytes: new Uint8Array(100).fill(1), role: 'graph' },
      { path: 'model.onnx.data', bytes: new Uint8Array(9000).fill(2), role: 'external-data' },
    ],
  });

const clone = (m: PackManifest): Record<string, any> => JSON.parse(JSON.stringify(m));

describe('validateManifest', () => {
  it('accepts what buildManifest makes, and its revision', async () => {
    const m = await good();
    expect(validateManifest(clone(m), { source: 'x', name: 'mlp' })).toEqual(m);
    await expect(verifyRevision(m)).resolves.toBeUndefined();
  });

  it.each<[string, (m: Record<string, any>) => void, RegExp]>([
    ['a chunk size under 4096', (m) => (m.chunkSize = 1024), /"chunkSize" must be an integer >= 4096/],
    ['a missing role', (m) => delete m.files[0].role, /files\[0\]\.role must be one of graph, external-data/],
    ['an unknown role', (m) => (m.files[1].role = 'weights'), /files\[1\]\.role must be one of/],
    ['a path that climbs out', (m) => (m.files[0].path = '../etc/passwd'), /files\[0\]\.path/],
    ['an empty name', (m) => (m.name = ''), /"name" must be a non-empty string/],
    ['a revision that is not a string', (m) => (m.revision = 7), /"revision" must be a non-empty string/],
    ['no files', (m) => ((m.files = []), (m.graphs = []), (m.totalBytes = 0)), /"files" must be a non-empty array/],
    ['a wrong chunk count', (m) => m.files[1].chunks.pop(), /has 2 chunks; 9000 bytes in chunks of 4096 need 3/],
    ['a wrong total', (m) => (m.totalBytes = 1), /"totalBytes" is 1 but the files add up to 9100/],
    ['a graph naming no file', (m) => (m.graphs[0].path = 'other.onnx'), /graphs\[0\]\.path must name a file/],
    ['an upper-case hash', (m) => (m.files[0].sha256 = m.files[0].sha256.toUpperCase()), /sha256 must be 64 lower-case hex/],
  ])('refuses %s with invalid-manifest', async (_label, spoil, message) => {
    const m = clone(await good());
    spoil(m);
    let error: unknown;
    try {
      validateManifest(m, { source: 'packs/mlp/manifest.json' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'TesseraError', code: 'invalid-manifest', message: expect.stringMatching(message), details: { source: 'packs/mlp/manifest.json' } });
  });

  it('refuses another model name when one is expected', async () => {
    const m = clone(await good());
    expect(() => validateManifest(m, { name: 'other' })).toThrow(/"name" is "mlp" but this is model "other"/);
  });

  it('takes the names and revisions the loader gives its own manifests; verifyRevision refuses them', async () => {
    const m = clone(await good());
    m.name = 'hf:https://hub.example/org/model/resolve/main/';
    m.revision = `${m.revision}:model.onnx`;
    expect(validateManifest(m).name).toBe(m.name);
    await expect(verifyRevision(m as PackManifest)).rejects.toMatchObject({ code: 'invalid-manifest' });
  });

  it('verifyRevision refuses an edited manifest that kept its revision', async () => {
    const m = clone(await good()) as PackManifest;
    m.files[0]!.role = 'other';
    validateManifest(m);
    await expect(verifyRevision(m, 'm.json')).rejects.toMatchObject({ code: 'invalid-manifest', message: expect.stringContaining('does not match its content') });
  });
});
