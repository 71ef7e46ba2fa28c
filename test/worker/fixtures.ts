/**
 * Small packs for the Worker tests, built with the real manifest builder and
 * published through the real publish client, talking to the Worker in-process.
 */
import { SELF } from 'cloudflare:test';
import { buildManifest, type ManifestInputFile } from '../../src/pack/build-manifest.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { publishPack, type PublishProgress, type PublishResult } from '../../src/pack/publish.ts';

export const BASE = 'https://tessera.test';
export const TOKEN = 'test-admin-token';

/** Deterministic pseudo-random bytes (so every range has distinct content). */
export function bytes(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface TestPack {
  manifest: PackManifest;
  files: Map<string, Uint8Array>;
}

export async function makePack(name: string, files: Array<{ path: string; bytes: Uint8Array }>): Promise<TestPack> {
  const input: ManifestInputFile[] = files.map((f) => ({ path: f.path, bytes: f.bytes, role: f.path.endsWith('.onnx') ? 'graph' : 'other' }));
  const manifest = await buildManifest({
    name,
    kind: 'onnx',
    graphs: [{ path: files[0]!.path, externalData: [] }],
    files: input,
    chunkSize: 4096,
  });
  return { manifest, files: new Map(files.map((f) => [f.path, f.bytes])) };
}

export function selfFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  return SELF.fetch(input instanceof URL ? input.href : input, init);
}

export async function publish(pack: TestPack, events: PublishProgress[] = []): Promise<PublishResult> {
  return publishPack({
    baseUrl: BASE,
    token: TOKEN,
    manifest: pack.manifest,
    readFile: async (path) => new Blob([pack.files.get(path)! as BlobPart]),
    fetch: selfFetch as typeof fetch,
    onProgress: (e) => events.push(e),
  });
}

export async function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, { method, headers });
}

export async function body(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}
