/**
 * The Worker's own runtime address under `wrangler dev`, behind its proxy.
 *
 * `wrangler dev` runs two workerd processes: the public port is a proxy Worker
 * (a Durable Object that queues requests across reloads) which forwards each
 * request over loopback HTTP to a second workerd running the user's Worker.
 * A deployed Worker has no such hop, so the coordinator benchmark measures
 * latency both ways. Linux only (reads /proc); undefined when not found.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { pids, statOf } from './proc.ts';

/** Loopback TCP ports in LISTEN state, by socket inode (from /proc/net/tcp). */
function listeningInodes(): Map<string, number> {
  const ports = new Map<string, number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address is HEXIP:HEXPORT; state 0A is LISTEN; 0100007F is 127.0.0.1.
    if (f.length < 10 || f[3] !== '0A' || !f[1]!.startsWith('0100007F:')) continue;
    ports.set(f[9]!, parseInt(f[1]!.split(':')[1]!, 16));
  }
  return ports;
}

/**
 * @example
 * const direct = await runtimeUrl(dev.pid, dev.base); // 'http://127.0.0.1:39287' or undefined
 */
export async function runtimeUrl(pgid: number, publicBase: string): Promise<string | undefined> {
  let candidates: number[];
  try {
    const listening = listeningInodes();
    const ports = new Set<number>();
    for (const pid of pids().filter((p) => statOf(p)?.pgrp === pgid)) {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          const port = inode && listening.get(inode);
          if (port) ports.add(port);
        } catch {
          // fd closed meanwhile
        }
      }
    }
    const publicPort = Number(new URL(publicBase).port);
    candidates = [...ports].filter((p) => p !== publicPort);
  } catch {
    return undefined;
  }
  // The user Worker's runtime is the one that answers the Worker's own health route.
  for (const port of candidates) {
    const url = `http://127.0.0.1:${port}`;
    try {
      const res = await fetch(`${url}/v2/health/live`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.ok && body === '{"live":true}') return url;
    } catch {
      // not an HTTP listener (inspector, loopback service)
    }
  }
  return undefined;
}
