/**
 * A real static HTTP server for tests and benchmarks: single `Range` requests,
 * strong ETags (`"<sha256 of the file>"`), `If-Range`, CORS, and fault
 * injection both from Node (`setFaults`) and from a browser page over HTTP
 * (`POST /__control/faults`, `GET /__control/stats`, `POST /__control/reset`).
 *
 * Range semantics (RFC 9110 §14):
 * - one satisfiable range -> 206 with `Content-Range: bytes a-b/size`;
 * - an unsatisfiable one -> 416 with `Content-Range: bytes * /size`;
 * - several ranges (`bytes=0-1,5-6`) -> 416, as the Worker answers (never multipart);
 * - a malformed Range header is ignored (200), as the RFC allows;
 * all decided by the Worker's own parseRange (src/protocol/parse-range.ts);
 * - `If-Range` that does not match the current ETag -> 200 with the whole file.
 *
 * Fault rules without a `path` apply to every file except `manifest.json`
 * (so a "status 503" rule does not break the manifest fetch); give
 * `path: 'manifest.json'` to target it. `path` matches as a substring of the
 * request path relative to the root. `count` is how many matching requests the
 * rule fires for (default: all).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';
import { parseRange } from '../../src/protocol/parse-range.ts';

interface RuleBase {
  path?: string;
  count?: number;
}

/** One fault; a discriminated union on `type`. */
export type FaultRule =
  | (RuleBase & { type: 'ignore-range' })
  | (RuleBase & { type: 'change-etag' })
  | (RuleBase & { type: 'status'; status: number })
  /** `cut`: send `keepBytes` then destroy the socket; `short`: a clean response whose body (and Content-Length) is `keepBytes` long. */
  | (RuleBase & { type: 'truncate'; keepBytes?: number; mode?: 'cut' | 'short' })
  | (RuleBase & { type: 'corrupt' })
  | (RuleBase & { type: 'delay'; ms: number })
  /** Sends headers and `afterBytes` bytes, then nothing until the client goes away. */
  | (RuleBase & { type: 'stall'; afterBytes?: number });

export interface PathStats {
  requests: number;
  /** Body bytes written to the socket. */
  bytes: number;
}

export interface ServerStats {
  requests: number;
  bytes: number;
  byPath: Record<string, PathStats>;
}

export interface RangeServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  url: string;
  close(): Promise<void>;
  /** A snapshot of the counters (GET/HEAD of files only; control and OPTIONS requests are not counted). */
  stats(): ServerStats;
  resetStats(): void;
  setFaults(rules: FaultRule[]): void;
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, If-Range, Content-Type',
  'Access-Control-Expose-Headers': 'ETag, Content-Range, Content-Length, Accept-Ranges',
  'Access-Control-Max-Age': '600',
};

/**
 * @example
 * const server = await startRangeServer({ root: '.cache/fixtures' });
 * server.setFaults([{ type: 'status', status: 503, count: 2 }]);
 * const res = await fetch(`${server.url}/mlp/model.onnx`, { headers: { Range: 'bytes=0-99' } });
 * await server.close();
 */
export async function startRangeServer(options: { root: string; port?: number }): Promise<RangeServer> {
  const root = await realpath(resolve(options.root));
  let faults: Array<FaultRule & { left: number }> = [];
  let stats: ServerStats = { requests: 0, bytes: 0, byPath: {} };
  const etags = new Map<string, { mtimeMs: number; size: number; etag: string }>();

  async function etagOf(file: string, mtimeMs: number, size: number): Promise<string> {
    const cached = etags.get(file);
    if (cached && cached.mtimeMs === mtimeMs && cached.size === size) return cached.etag;
    const hash = createHash('sha256');
    for await (const part of createReadStream(file)) hash.update(part as Buffer);
    const etag = `"${hash.digest('hex')}"`;
    etags.set(file, { mtimeMs, size, etag });
    return etag;
  }

  /** Consumes and returns the rules that fire for this request. */
  function takeFaults(rel: string): FaultRule[] {
    const fired: FaultRule[] = [];
    for (const rule of faults) {
      const matches = rule.path === undefined ? !rel.endsWith('manifest.json') : rel.includes(rule.path);
      if (!matches || rule.left <= 0) continue;
      rule.left -= 1;
      fired.push(rule);
    }
    faults = faults.filter((r) => r.left > 0);
    return fired;
  }

  function count(rel: string, bytes: number, request: boolean): void {
    const entry = (stats.byPath[rel] ??= { requests: 0, bytes: 0 });
    if (request) {
      entry.requests += 1;
      stats.requests += 1;
    }
    entry.bytes += bytes;
    stats.bytes += bytes;
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse, action: string): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { ...CORS_HEADERS, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (action === 'stats' && req.method === 'GET') return send(200, stats);
    if (action === 'reset' && req.method === 'POST') {
      faults = [];
      stats = { requests: 0, bytes: 0, byPath: {} };
      return send(200, { ok: true });
    }
    if (action === 'faults' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const part of req) chunks.push(part as Buffer);
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FaultRule[] | { faults: FaultRule[] };
        setFaults(Array.isArray(parsed) ? parsed : parsed.faults);
        return send(200, { ok: true });
      } catch (err) {
        return send(400, { error: String(err) });
      }
    }
    return send(404, { error: `unknown control ${req.method} ${action}` });
  }

  function setFaults(rules: FaultRule[]): void {
    faults = rules.map((rule) => ({ ...rule, left: rule.count ?? Number.POSITIVE_INFINITY }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS_HEADERS);
      res.end();
      return;
    }
    if (url.pathname.startsWith('/__control/')) return handleControl(req, res, url.pathname.slice('/__control/'.length));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...CORS_HEADERS, Allow: 'GET, HEAD, OPTIONS' });
      res.end();
      return;
    }

    const file = resolveUnderRoot(root, url.pathname);
    const info = file ? await stat(file).catch(() => undefined) : undefined;
    // realpath too, so a symlink inside root cannot point outside it.
    const real = info?.isFile() && file ? await realpath(file).catch(() => undefined) : undefined;
    if (!file || !info?.isFile() || !real || !isUnder(root, real)) {
      res.writeHead(404, { ...CORS_HEADERS, 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    const rel = real.slice(root.length + 1).split(sep).join('/');
    count(rel, 0, true);
    const fired = takeFaults(rel);
    const has = <T extends FaultRule['type']>(type: T) =>
      fired.find((f): f is Extract<FaultRule, { type: T }> => f.type === type);

    const delay = has('delay');
    if (delay) await new Promise((r) => setTimeout(r, delay.ms));
    const status = has('status');
    if (status) {
      res.writeHead(status.status, { ...CORS_HEADERS, 'Content-Type': 'text/plain' });
      res.end(`injected status ${status.status}`);
      return;
    }

    const size = info.size;
    let etag = await etagOf(real, info.mtimeMs, size);
    // Pretend the file was replaced: a new strong ETag, so If-Range no longer matches.
    if (has('change-etag')) etag = `"${etag.slice(1, -1)}-changed"`;

    const ifRange = req.headers['if-range'];
    const range = has('ignore-range') || (ifRange !== undefined && ifRange !== etag) ? undefined : rangeOf(req.headers.range, size);

    const headers: Record<string, string> = {
      ...CORS_HEADERS,
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      'Cache-Control': rel.endsWith('manifest.json') ? 'no-store' : 'public, max-age=0, must-revalidate',
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` });
      res.end();
      return;
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : size - 1; // inclusive
    let length = Math.max(0, end - start + 1);
    const truncate = has('truncate');
    const keep = truncate ? Math.min(length, truncate.keepBytes ?? Math.floor(length / 2)) : length;
    if (truncate?.mode === 'short') length = keep;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    headers['Content-Length'] = String(length);
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }

    const stall = has('stall');
    const corrupt = has('corrupt');
    const limit = stall ? Math.min(keep, stall.afterBytes ?? 0) : keep;
    let sent = 0;
    let corrupted = false;
    const stream = limit > 0 ? createReadStream(real, { start, end: start + limit - 1 }) : undefined;
    if (stream) {
      for await (const part of stream) {
        let buf = part as Buffer;
        if (corrupt && !corrupted) {
          buf = Buffer.from(buf);
          buf[0] = (buf[0] ?? 0) ^ 0xff;
          corrupted = true;
        }
        if (res.destroyed) break;
        const ok = res.write(buf);
        sent += buf.byteLength;
        count(rel, buf.byteLength, false);
        if (!ok) {
          await new Promise<void>((r) => {
            const done = () => {
              res.off('drain', done).off('close', done);
              r();
            };
            res.on('drain', done).on('close', done);
          });
        }
      }
    }
    if (stall) return; // hold the socket open; the client aborts or close() destroys it
    if (truncate && truncate.mode !== 'short' && sent < length) {
      res.destroy(); // a cut connection: Content-Length promised more than arrived
      return;
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, CORS_HEADERS);
      res.end(String(err));
    });
  });
  // Keep-alive sockets would make close() wait; tests want it prompt.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = { requests: 0, bytes: 0, byPath: {} };
    },
    setFaults,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/**
 * Maps a URL path to a file under root, or undefined when it would escape.
 * Decoding happens per segment so `%2e%2e` and `%2f` cannot smuggle a `..`.
 */
export function resolveUnderRoot(root: string, pathname: string): string | undefined {
  const parts: string[] = [];
  for (const raw of pathname.split('/')) {
    if (raw === '') continue;
    let part: string;
    try {
      part = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (part === '.' || part === '..' || part.includes('/') || part.includes('\\') || part.includes('\0')) return undefined;
    parts.push(part);
  }
  if (parts.length === 0) return undefined;
  const full = resolve(root, ...parts);
  return isUnder(root, full) ? full : undefined;
}

function isUnder(root: string, full: string): boolean {
  return full.startsWith(root + sep);
}

/**
 * The range a test server sends: the Worker's parseRange, as the simple
 * shape these servers use (`undefined`: the whole file; several ranges are
 * unsatisfiable for them, as they are 416 at the Worker).
 *
 * @example
 * const range = rangeOf(req.headers.range, size);
 */
export function rangeOf(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const decision = parseRange(header, size);
  switch (decision.type) {
    case 'ignore':
      return undefined;
    case 'multiple':
    case 'unsatisfiable':
      return 'unsatisfiable';
    case 'range':
      return { start: decision.start, end: decision.end };
  }
}

/** Random bytes helper kept here so fixtures need no other import. */
export function randomData(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}
