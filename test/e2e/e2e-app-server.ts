/**
 * A stand-in for the Worker in the PWA/embed browser tests: the built app
 * (dist) with the headers public/_headers gives it (COOP/COEP, CORP, CORS),
 * GET /models (the catalogue, with each model's kind as the Worker gives it), and packs at the Worker's URLs
 * (`/models/<name>/manifest.json`, `/models/<name>/<revision>/<path>` with
 * single ranges), on 127.0.0.1. Counts pack bytes sent, so tests can assert
 * that a load came from the cache. `extra` serves more pages (the second origin).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { modelKind } from '../../src/pack/model-kind.ts';
import { rangeOf, resolveUnderRoot } from '../helpers/range-server.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
  '.json': 'application/json',
};

export interface AppServer {
  url: string;
  packBytesSent: number;
  close(): Promise<void>;
}

export async function startAppServer(options: {
  dist?: string;
  packs?: Record<string, string>;
  extra?: Record<string, string>;
}): Promise<AppServer> {
  const manifests = new Map<string, PackManifest>();
  for (const [name, dir] of Object.entries(options.packs ?? {})) {
    manifests.set(name, JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as PackManifest);
  }
  const state = { packBytesSent: 0 };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'ETag, Content-Range, Content-Length, Accept-Ranges');
    res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Headers': 'Range, If-Range, If-None-Match', 'Access-Control-Allow-Methods': 'GET, HEAD' });
      return void res.end();
    }
    try {
      if (options.extra?.[path] !== undefined) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        return void res.end(options.extra[path]);
      }
      if (path === '/models') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(JSON.stringify({ models: [...manifests.values()].sort((a, b) => a.name.localeCompare(b.name)).map((m) => ({ name: m.name, revision: m.revision, kind: modelKind(m) })) }));
      }
      const parts = path.split('/');
      if (parts[1] === 'models' && manifests.has(parts[2] ?? '')) {
        const manifest = manifests.get(parts[2]!)!;
        if (parts.length === 4 && parts[3] === 'manifest.json') {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
          return void res.end(JSON.stringify(manifest));
        }
        if (parts.length === 5 && parts[3] === manifest.revision && parts[4] === 'manifest.json') {
          // The revision's own manifest, as the Worker serves it (immutable).
          res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=31536000, immutable' });
          return void res.end(JSON.stringify(manifest));
        }
        const file = manifest.files.find((f) => f.path === parts.slice(4).join('/'));
        if (parts[3] === manifest.revision && file) return void (await sendFile(join(options.packs![parts[2]!]!, file.path), req.headers.range, `"${file.sha256}"`, res, state));
        res.writeHead(404);
        return void res.end();
      }
      if (options.dist) {
        const root = resolve(options.dist);
        let file = url.pathname === '/' ? join(root, 'index.html') : resolveUnderRoot(root, url.pathname);
        if (file === undefined) throw new Error('outside root');
        if (!(await stat(file).catch(() => undefined))?.isFile()) {
          // Like the Worker's assets: a missing file is a 404; only page routes fall back to the app.
          if (extname(path) !== '') {
            res.writeHead(404);
            return void res.end();
          }
          file = join(root, 'index.html');
        }
        res.writeHead(200, {
          'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
          'Cache-Control': 'no-cache',
        });
        return void createReadStream(file).pipe(res);
      }
      res.writeHead(404);
      res.end();
    } catch (error) {
      res.writeHead(500);
      res.end(String(error));
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get packBytesSent() {
      return state.packBytesSent;
    },
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

async function sendFile(file: string, range: string | undefined, etag: string, res: import('node:http').ServerResponse, state: { packBytesSent: number }): Promise<void> {
  const size = (await stat(file)).size;
  const headers = { ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', 'Cache-Control': 'public, max-age=31536000, immutable' };
  const r = rangeOf(range, size);
  if (r === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}` });
    return void res.end();
  }
  if (r) {
    res.writeHead(206, { ...headers, 'Content-Range': `bytes ${r.start}-${r.end}/${size}`, 'Content-Length': String(r.end - r.start + 1) });
    state.packBytesSent += r.end - r.start + 1;
    return void createReadStream(file, { start: r.start, end: r.end }).pipe(res);
  }
  res.writeHead(200, { ...headers, 'Content-Length': String(size) });
  state.packBytesSent += size;
  createReadStream(file).pipe(res);
}
