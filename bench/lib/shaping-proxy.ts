/**
 * A network-shaping HTTP proxy for the browser benchmarks: it forwards every
 * request to an upstream server unchanged (method, path, headers, so Range
 * and If-Range reach it; status, headers and body come back byte for byte)
 * and shapes the way back: one RTT before each response, one more on a new
 * connection (the TCP handshake), each connection paced to its own cap and
 * all of them to a shared link cap (see pacer.ts). `loopback` forwards
 * without shaping.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { NetworkProfile } from './network-profile.ts';
import { createPacer, reserve, type Pacer } from './pacer.ts';

/** Pieces the body is paced in: small enough that pacing is smooth, large enough to cost little. */
const PIECE_BYTES = 64 * 1024;
/**
 * Waits shorter than this are not slept: a timer costs a millisecond or more
 * (much more on a loaded machine), so sleeping each 3 ms piece capped the
 * rate at the timer's. The pacer's clock still moves on, so the next wait
 * includes what was skipped and the average rate stays the cap.
 */
const MIN_SLEEP_MS = 4;

export interface ShapingProxy {
  /** Base URL without a trailing slash. */
  url: string;
  /** Body bytes sent to clients so far. */
  bytesSent(): number;
  close(): Promise<void>;
}

/**
 * @example
 * const proxy = await startShapingProxy(server.url, NETWORK_PROFILES.cdn);
 * const manifestUrl = `${proxy.url}/manifest.json`; // 30 ms RTT, 20 MB/s per connection, 150 MB/s shared
 */
export async function startShapingProxy(upstream: string, profile: NetworkProfile, now: () => number = Date.now): Promise<ShapingProxy> {
  const target = new URL(upstream);
  const link = createPacer(profile.linkBytesPerSec);
  const connections = new WeakMap<Socket, Pacer>();
  const sockets = new Set<Socket>();
  let sent = 0;
  const sleep = (ms: number) => (ms >= MIN_SLEEP_MS ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    let pacer = connections.get(socket);
    const fresh = pacer === undefined;
    if (!pacer) connections.set(socket, (pacer = createPacer(profile.connectionBytesPerSec)));
    // The request's way there and the response's first byte back: one RTT; a new connection's handshake: one more.
    const rtt = profile.rttMs * (fresh ? 2 : 1);
    if (rtt > 0) await new Promise<void>((r) => setTimeout(r, rtt));
    const upstreamReq = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      async (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders);
        try {
          for await (const chunk of upstreamRes as AsyncIterable<Buffer>) {
            for (let offset = 0; offset < chunk.byteLength; offset += PIECE_BYTES) {
              const piece = chunk.subarray(offset, Math.min(chunk.byteLength, offset + PIECE_BYTES));
              await sleep(reserve([pacer, link], piece.byteLength, now()));
              if (res.destroyed) return void upstreamRes.destroy();
              sent += piece.byteLength;
              // Respect the socket's own backpressure too (a slow reader).
              if (!res.write(piece)) await new Promise<void>((r) => res.once('drain', r));
            }
          }
          res.end();
        } catch {
          res.destroy();
        }
      },
    );
    upstreamReq.on('error', () => res.destroy());
    res.on('close', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bytesSent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
