import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/pack/sha256.ts';
import { rangeOf, startRangeServer, type RangeServer, type ServerStats } from '../helpers/range-server.ts';

let root: string;
let server: RangeServer;
const data = crypto.getRandomValues(new Uint8Array(10_000));

beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'tessera-rs-'));
  root = join(base, 'root');
  await mkdir(join(root, 'p'), { recursive: true });
  await writeFile(join(root, 'p', 'w.bin'), data);
  await writeFile(join(root, 'p', 'manifest.json'), '{}');
  await writeFile(join(base, 'secret.txt'), 'secret');
  await symlink(join(base, 'secret.txt'), join(root, 'p', 'link.txt'));
  server = await startRangeServer({ root });
});
afterAll(async () => {
  await server.close();
  await rm(join(root, '..'), { recursive: true, force: true });
});

/** Raw request: fetch() would normalise `..` away before it reaches the server. */
function raw(path: string): Promise<number> {
  const { port } = new URL(server.url);
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    });
    req.on('error', fail);
    req.end();
  });
}

describe('range server', () => {
  it('serves a single range as 206 with a strong ETag, Content-Range and CORS headers', async () => {
    const res = await fetch(`${server.url}/p/w.bin`, { headers: { Range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 100-199/10000');
    expect(res.headers.get('etag')).toBe(`"${await sha256Hex(data)}"`);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/ETag.*Content-Range/);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(data.subarray(100, 200));
  });

  it('answers 416 past the end, 200 for multi-range or a stale If-Range, and no-store for manifests', async () => {
    const past = await fetch(`${server.url}/p/w.bin`, { headers: { Range: 'bytes=20000-20001' } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */10000');
    // Several ranges: 416, as the Worker answers them (never the whole file).
    const multi = await fetch(`${server.url}/p/w.bin`, { headers: { Range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(416);
    expect(multi.headers.get('content-range')).toBe('bytes */10000');
    await multi.arrayBuffer();
    const malformed = await fetch(`${server.url}/p/w.bin`, { headers: { Range: 'bytes=5-2' } });
    expect(malformed.status).toBe(200);
    expect((await malformed.arrayBuffer()).byteLength).toBe(10_000);
    const stale = await fetch(`${server.url}/p/w.bin`, { headers: { Range: 'bytes=0-1', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
    const manifest = await fetch(`${server.url}/p/manifest.json`);
    expect(manifest.headers.get('cache-control')).toBe('no-store');
    await manifest.arrayBuffer();
    expect(rangeOf('bytes=-100', 10_000)).toEqual({ start: 9900, end: 9999 });
    expect(rangeOf('bytes=9000-', 10_000)).toEqual({ start: 9000, end: 9999 });
  });

  it('never serves a path outside its root', async () => {
    expect(await raw('/../secret.txt')).toBe(404);
    expect(await raw('/p/..%2f..%2fsecret.txt')).toBe(404);
    expect(await raw('/%2e%2e/secret.txt')).toBe(404);
    expect(await raw('/p/link.txt')).toBe(404); // symlink pointing outside
    expect(await raw('/p/w.bin')).toBe(200);
  });

  it('answers CORS preflight and takes faults and reports stats over HTTP', async () => {
    const pre = await fetch(`${server.url}/p/w.bin`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/If-Range/);
    await fetch(`${server.url}/__control/reset`, { method: 'POST' });
    await fetch(`${server.url}/__control/faults`, { method: 'POST', body: JSON.stringify([{ type: 'status', status: 503, count: 1 }]) });
    expect((await fetch(`${server.url}/p/w.bin`)).status).toBe(503);
    const ok = await fetch(`${server.url}/p/w.bin`, { headers: { Range: 'bytes=0-9' } });
    expect((await ok.arrayBuffer()).byteLength).toBe(10);
    const stats = (await (await fetch(`${server.url}/__control/stats`)).json()) as ServerStats;
    expect(stats.byPath['p/w.bin']).toEqual({ requests: 2, bytes: 10 });
  });
});
