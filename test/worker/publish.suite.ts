/** Publishing: auth, verified blob uploads, commits that switch `current` last, dedup. */
import { describe, expect, it } from 'vitest';
import { env, SELF } from 'cloudflare:test';
import { sha256Hex } from '../../src/pack/sha256.ts';
import { isTesseraError } from '../../src/errors.ts';
import type { PublishProgress } from '../../src/pack/publish.ts';
import { BASE, TOKEN, bytes, get, makePack, publish } from './fixtures.ts';

const auth = { Authorization: `Bearer ${TOKEN}` };

async function admin(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, { ...init, headers: { ...auth, ...init.headers } });
}

async function errorOf(res: Response): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

async function currentRevision(name: string): Promise<string | null> {
  const res = await get(`/models/${name}/manifest.json`);
  if (res.status === 404) {
    await res.arrayBuffer();
    return null;
  }
  return ((await res.json()) as { revision: string }).revision;
}

export function publishSuite(): void {
  describe('publishing', () => {
    it('answers 401 with the same body to a missing, wrong or non-bearer token', async () => {
      const bodies = new Set<string>();
      for (const header of [undefined, 'Bearer nope', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, 'Bearer ']) {
        const res = await SELF.fetch(`${BASE}/admin/blobs/missing`, {
          method: 'POST',
          headers: header === undefined ? {} : { Authorization: header },
          body: JSON.stringify({ sha256: [] }),
        });
        expect(res.status, String(header)).toBe(401);
        expect(res.headers.get('WWW-Authenticate')).toContain('Bearer');
        bodies.add(await res.text());
      }
      expect([...bodies]).toEqual([JSON.stringify({ error: { name: 'TesseraError', code: 'unauthorized', message: 'a valid admin token is required' } })]);
    });

    it('stores a blob whose bytes match its hash, and only once', async () => {
      const data = bytes(6000, 11);
      const sha = await sha256Hex(data);
      const first = await admin(`/admin/models/gamma/blobs/${sha}`, { method: 'PUT', body: data });
      expect(first.status).toBe(201);
      expect(await first.json()).toEqual({ sha256: sha, size: 6000, stored: true });
      const stored = await env.PACKS.get(`blobs/${sha}`);
      expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(data);
      const again = await admin(`/admin/models/gamma/blobs/${sha}`, { method: 'PUT', body: data });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { stored: boolean }).stored).toBe(false);
    });

    it('rejects bytes that do not hash to the name, storing nothing', async () => {
      const claimed = await sha256Hex(bytes(100, 1));
      const res = await admin(`/admin/models/gamma/blobs/${claimed}`, { method: 'PUT', body: bytes(100, 2) });
      expect(res.status).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe('integrity-error');
      expect(error.details).toEqual({ expected: claimed, actual: await sha256Hex(bytes(100, 2)) });
      expect(await env.PACKS.head(`blobs/${claimed}`)).toBeNull();
    });

    it('rejects blob names that are not hashes, bodies over the limit, and bodies without a length', async () => {
      const bad = await admin('/admin/models/gamma/blobs/..%2f..%2fmodels%2fgamma%2fcurrent', { method: 'PUT', body: 'x' });
      expect([400, 404]).toContain(bad.status);
      await bad.arrayBuffer();
      const upper = await admin(`/admin/models/gamma/blobs/${'A'.repeat(64)}`, { method: 'PUT', body: 'x' });
      expect(upper.status).toBe(400);
      expect((await errorOf(upper)).code).toBe('invalid-argument');

      const big = bytes(1048577, 5); // TESSERA_MAX_UPLOAD_BYTES is 1 MiB in the test config
      const tooBig = await admin(`/admin/models/gamma/blobs/${await sha256Hex(big)}`, { method: 'PUT', body: big });
      expect(tooBig.status).toBe(413);
      expect((await errorOf(tooBig)).code).toBe('payload-too-large');

      const stream = new ReadableStream<Uint8Array>({ start: (c) => { c.enqueue(bytes(10, 1)); c.close(); } });
      const chunked = await admin(`/admin/models/gamma/blobs/${await sha256Hex(bytes(10, 1))}`, { method: 'PUT', body: stream });
      expect(chunked.status).toBe(411);
      expect(await env.PACKS.head(`blobs/${await sha256Hex(bytes(10, 1))}`)).toBeNull();
    });

    it('lists which blobs the bucket lacks', async () => {
      const present = await sha256Hex(bytes(6000, 11)); // stored above
      const absent = await sha256Hex(bytes(1, 1));
      const res = await admin('/admin/blobs/missing', { method: 'POST', body: JSON.stringify({ sha256: [present, absent, absent] }) });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ missing: [absent] });
      const bad = await admin('/admin/blobs/missing', { method: 'POST', body: '{"sha256": "nope"' });
      expect(bad.status).toBe(400);
      expect((await errorOf(bad)).code).toBe('bad-request');
    });

    it('refuses to commit a revision with a missing blob (409) and leaves current unchanged', async () => {
      const v1 = await makePack('delta', [{ path: 'model.onnx', bytes: bytes(5000, 21) }]);
      await publish(v1);
      const v2 = await makePack('delta', [{ path: 'model.onnx', bytes: bytes(5000, 21) }, { path: 'extra.bin', bytes: bytes(7000, 22) }]);
      const res = await admin('/admin/models/delta/revisions', { method: 'POST', body: JSON.stringify(v2.manifest) });
      expect(res.status).toBe(409);
      const error = await errorOf(res);
      expect(error.details).toEqual({ missing: [v2.manifest.files.find((f) => f.path === 'extra.bin')!.sha256] });
      expect(await currentRevision('delta')).toBe(v1.manifest.revision);
      expect(await env.PACKS.head(`models/delta/revisions/${v2.manifest.revision}.json`)).toBeNull();
    });

    it('rejects a tampered or unsafe manifest with invalid-manifest', async () => {
      const pack = await makePack('epsilon', [{ path: 'model.onnx', bytes: bytes(4500, 31) }]);
      const cases: Array<[string, unknown]> = [
        ['edited revision', { ...pack.manifest, revision: '0123456789abcdef' }],
        ['climbing path', { ...pack.manifest, files: [{ ...pack.manifest.files[0]!, path: '../x' }] }],
        ['wrong chunk count', { ...pack.manifest, files: [{ ...pack.manifest.files[0]!, chunks: [] }] }],
        ['other model', { ...pack.manifest, name: 'zeta' }],
        ['not an object', [1, 2]],
      ];
      for (const [label, manifest] of cases) {
        const res = await admin('/admin/models/epsilon/revisions', { method: 'POST', body: JSON.stringify(manifest) });
        expect(res.status, label).toBe(400);
        expect((await errorOf(res)).code, label).toBe('invalid-manifest');
      }
      expect(await currentRevision('epsilon')).toBeNull();
    });

    it('publishes, switches current, and a new revision uploads only the blobs it adds', async () => {
      const shared = [
        { path: 'model.onnx', bytes: bytes(4096, 41) },
        { path: 'model.onnx.data', bytes: bytes(30_000, 42) },
        { path: 'tokenizer.json', bytes: new TextEncoder().encode('{"v":1}') },
      ];
      const v1 = await makePack('omega', shared);
      const events1: PublishProgress[] = [];
      const r1 = await publish(v1, events1);
      expect(r1).toMatchObject({ revision: v1.manifest.revision, uploadedFiles: 3, skippedFiles: 0, uploadedBytes: v1.manifest.totalBytes });
      expect(events1[0]).toEqual({ type: 'plan', totalFiles: 3, missingFiles: 3, missingBytes: v1.manifest.totalBytes });
      expect(events1.at(-1)).toEqual({ type: 'committed', revision: v1.manifest.revision });
      const uploads = events1.filter((e) => e.type === 'upload');
      expect(uploads.at(-1)).toMatchObject({ loadedBytes: v1.manifest.totalBytes });
      expect(await currentRevision('omega')).toBe(v1.manifest.revision);

      const changed = bytes(9000, 43);
      const v2 = await makePack('omega', [...shared.slice(0, 2), { path: 'tokenizer.json', bytes: changed }]);
      const r2 = await publish(v2);
      expect(r2).toMatchObject({ revision: v2.manifest.revision, uploadedFiles: 1, skippedFiles: 2, uploadedBytes: 9000 });
      expect(await currentRevision('omega')).toBe(v2.manifest.revision);

      // Both revisions stay readable: old readers finish on the revision they started with.
      const old = await get(`/models/omega/${v1.manifest.revision}/tokenizer.json`);
      expect(await old.text()).toBe('{"v":1}');
      const cur = await get(`/models/omega/${v2.manifest.revision}/tokenizer.json`);
      expect(new Uint8Array(await cur.arrayBuffer())).toEqual(changed);
    });

    it('reports server errors from the client as TesseraErrors with the same code', async () => {
      const pack = await makePack('theta', [{ path: 'model.onnx', bytes: bytes(5000, 51) }]);
      const error = await publish({ ...pack, files: new Map([['model.onnx', bytes(5000, 52)]]) }).catch((e: unknown) => e);
      expect(isTesseraError(error, 'integrity-error')).toBe(true);
      expect(await currentRevision('theta')).toBeNull();
    });
  });
}
