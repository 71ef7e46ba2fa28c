/**
 * The browser half of the concurrency choice: in headless Chromium, parallel
 * single-range GETs + WebCrypto SHA-256 of 8 MiB chunks (the loader's transfer
 * path) against the range server on loopback, for 1/2/4/6/8/12 in flight.
 * Chromium allows 6 HTTP/1.1 connections per host, so past 6 requests queue.
 *
 *   node bench/concurrency-browser.ts [--mib 128] [--runs 3] [--network loopback|cdn|slow]
 *
 * `--network cdn|slow` measures through the shaping proxy: the profiles a
 * real visitor has, where the default concurrency is to be chosen.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { DEFAULT_CHUNK_SIZE } from '../src/pack/manifest.ts';
import { CHROMIUM_ARGS, findChromium } from '../test/helpers/chromium.ts';
import { writeRandomPack } from '../test/helpers/random-pack.ts';
import { startRangeServer } from '../test/helpers/range-server.ts';
import { describeProfile, networkProfile } from './lib/network-profile.ts';
import { startShapingProxy } from './lib/shaping-proxy.ts';
import { median } from './lib/stats.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '128' }, runs: { type: 'string', default: '3' }, network: { type: 'string', default: 'loopback' } } });
const profile = networkProfile(values.network!);
const size = Number(values.mib) * 1024 * 1024;
const runs = Number(values.runs);
const root = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
const { manifest } = await writeRandomPack(join(root, 'p'), { name: 'bench', chunkSize: DEFAULT_CHUNK_SIZE, files: [{ path: 'weights.bin', size }] });
const server = await startRangeServer({ root });
const proxy = profile.name === 'loopback' ? undefined : await startShapingProxy(server.url, profile);
const base = proxy?.url ?? server.url;
const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
try {
  const page = await browser.newPage();
  await page.goto(`${base}/`); // a 404 text page: same origin, and a secure context (127.0.0.1)
  const file = manifest.files[0] as (typeof manifest.files)[number];
  const rows = [];
  for (const concurrency of [1, 2, 4, 6, 8, 12]) {
    const times: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const ms = await page.evaluate(
        async ({ url, size, chunk, etag, concurrency }) => {
          const t0 = performance.now();
          const out = new Uint8Array(size);
          let next = 0;
          const worker = async () => {
            for (;;) {
              const start = next * chunk;
              next += 1;
              if (start >= size) return;
              const end = Math.min(size, start + chunk);
              const res = await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}`, 'If-Range': etag } });
              const bytes = new Uint8Array(await res.arrayBuffer());
              await crypto.subtle.digest('SHA-256', bytes);
              out.set(bytes, start);
            }
          };
          await Promise.all(Array.from({ length: concurrency }, worker));
          return performance.now() - t0;
        },
        { url: `${base}/p/weights.bin`, size, chunk: DEFAULT_CHUNK_SIZE, etag: `"${file.sha256}"`, concurrency },
      );
      if (i > 0) times.push(ms); // first run warms the server's ETag and the page cache
    }
    const ms = median(times);
    rows.push({ concurrency, medianMs: Math.round(ms), mbPerSec: Math.round(size / 1e6 / (ms / 1000)), runsMs: times.map(Math.round).join(' ') });
  }
  console.log(`network ${describeProfile(profile)}`);
  console.table(rows);
} finally {
  await browser.close();
  await proxy?.close();
  await server.close();
  await rm(root, { recursive: true, force: true });
}
