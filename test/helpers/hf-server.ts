/**
 * A Hugging Face hub look-alike for tests and benchmarks (no internet):
 * `GET|HEAD /<org>/<model>/resolve/<rev>/<path>` serves `<repos[org/model]>/<path>`
 * with single-range support and the hub's validators:
 *
 * - large ("LFS") files: `ETag: "<sha256>"`, `X-Linked-Etag: "<sha256>"`,
 *   `X-Linked-Size` (the hub sends these on the resolve URL, the CDN's ETag
 *   is the same SHA-256);
 * - small git files: `ETag: "<git blob sha1>"`, which is not a SHA-256.
 *
 * Counts body bytes per path, and can corrupt one file's bytes (to test the
 * whole-file check). CORS headers expose the validators to a page, which reads
 * the counters at `GET /__control/stats` and zeroes them with `POST /__control/reset`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { rangeOf } from './range-server.ts';

export interface HfServer {
  /** e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  /** Body bytes sent per request path, and in all. */
  stats(): { requests: number; bytes: number; byPath: Record<string, { requests: number; bytes: number }> };
  resetStats(): void;
  /** Flip one byte of this file's body in every response (the validators stay those of the good file). */
  corrupt(path: string | undefined): void;
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, If-Range, Content-Type, Cache-Control',
  'Access-Control-Expose-Headers': 'ETag, X-Linked-Etag, X-Linked-Size, Content-Range, Content-Length, Accept-Ranges, X-Repo-Commit',
};

/**
 * @example
 * const hub = await startHfServer({ repos: { 'test/tiny-bert': '.cache/hf/tiny-bert' } });
 * // transformers.js: env.remoteHost = hub.url + '/'
 */
export async function startHfServer(options: { repos: Record<string, string>; lfsThreshold?: number; port?: number }): Promise<HfServer> {
  const lfsThreshold = options.lfsThreshold ?? 10 * 1024;
  const byPath: Record<string, { requests: number; bytes: number }> = {};
  let corrupted: string | undefined;
  const validators = new Map<string, Promise<{ etag: string; lfs: boolean }>>();
  const validatorsOf = (file: string, size: number, mtime: number) => {
    const key = `${file}:${size}:${mtime}`;
    let v = validators.get(key);
    if (!v) {
      v = readFile(file).then((bytes) => {
        const lfs = size >= lfsThreshold;
        const etag = lfs
          ? createHash('sha256').update(bytes).digest('hex')
          : createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
        return { etag: `"${etag}"`, lfs };
      });
      validators.set(key, v);
    }
    return v;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'OPTIONS') return void res.writeHead(204, CORS).end();
    const url = new URL(req.url ?? '/', 'http://x');
    // Counters for a page (browser tests): GET /__control/stats, POST /__control/reset.
    if (url.pathname === '/__control/stats' || url.pathname === '/__control/reset') {
      if (url.pathname.endsWith('reset')) for (const k of Object.keys(byPath)) delete byPath[k];
      const values = Object.values(byPath);
      const body = { requests: values.reduce((s, v) => s + v.requests, 0), bytes: values.reduce((s, v) => s + v.bytes, 0), byPath };
      return void res.writeHead(200, { ...CORS, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const root = m ? options.repos[decodeURIComponent(m[1] as string)] : undefined;
    if (!m || !root || (req.method !== 'GET' && req.method !== 'HEAD')) return void res.writeHead(404, CORS).end('Entry not found');
    const rel = normalize(decodeURIComponent(m[3] as string));
    if (rel.startsWith('..') || rel.includes(`${sep}..`)) return void res.writeHead(404, CORS).end();
    const file = join(root, rel);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return void res.writeHead(404, CORS).end('Entry not found');
    const { etag, lfs } = await validatorsOf(file, info.size, info.mtimeMs);
    const headers: Record<string, string> = { ...CORS, ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', 'X-Repo-Commit': '0'.repeat(40) };
    if (lfs) Object.assign(headers, { 'X-Linked-Etag': etag, 'X-Linked-Size': String(info.size) });
    const stats = (byPath[url.pathname] ??= { requests: 0, bytes: 0 });
    stats.requests += 1;
    let range = rangeOf(req.headers.range, info.size);
    const ifRange = req.headers['if-range'];
    if (ifRange !== undefined && ifRange !== etag) range = undefined;
    if (range === 'unsatisfiable') return void res.writeHead(416, { ...headers, 'Content-Range': `bytes */${info.size}` }).end();
    const start = range?.start ?? 0;
    const end = range?.end ?? info.size - 1; // inclusive
    const length = info.size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': String(length), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${info.size}` } : {}) });
    if (req.method === 'HEAD' || length === 0) return void res.end();
    const stream = createReadStream(file, { start, end });
    let first = true;
    stream.on('data', (piece: Buffer | string) => {
      let chunk = piece as Buffer;
      if (first && corrupted === rel.split(sep).join('/')) {
        chunk = Buffer.from(chunk);
        chunk[0] = (chunk[0] as number) ^ 0xff;
      }
      first = false;
      stats.bytes += chunk.byteLength;
      if (!res.write(chunk)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => res.end());
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, CORS);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats() {
      const copy = Object.fromEntries(Object.entries(byPath).map(([k, v]) => [k, { ...v }]));
      const values = Object.values(copy);
      return { requests: values.reduce((s, v) => s + v.requests, 0), bytes: values.reduce((s, v) => s + v.bytes, 0), byPath: copy };
    },
    resetStats() {
      for (const k of Object.keys(byPath)) delete byPath[k];
    },
    corrupt(path) {
      corrupted = path;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
