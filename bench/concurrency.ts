/**
 * Loopback throughput of loadPack versus concurrency (requests in flight),
 * to choose DEFAULT_CONCURRENCY. Node, a real range server on 127.0.0.1, a
 * random-bytes pack in 8 MiB chunks, cache: 'memory' (network + SHA-256 +
 * assembly; no storage, so the number is the transfer path alone).
 *
 *   node bench/concurrency.ts [--mib 128] [--runs 3] [--json FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPack } from '../src/fetch/load-pack.ts';
import { DEFAULT_CHUNK_SIZE } from '../src/pack/manifest.ts';
import { writeRandomPack } from '../test/helpers/random-pack.ts';
import { startRangeServer } from '../test/helpers/range-server.ts';
import { median } from './lib/stats.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '128' }, runs: { type: 'string', default: '3' }, json: { type: 'string' } } });
const size = Number(values.mib) * 1024 * 1024;
const runs = Number(values.runs);
const levels = [1, 2, 4, 6, 8, 12];

const root = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
await writeRandomPack(join(root, 'p'), { name: 'bench', chunkSize: DEFAULT_CHUNK_SIZE, files: [{ path: 'model.onnx', size: 4096 }, { path: 'weights.bin', size }] });
const server = await startRangeServer({ root });
const url = `${server.url}/p/manifest.json`;
await loadPack(url, { cache: 'memory', concurrency: 4 }); // warm-up: ETag hashing, page cache

const rows: Array<{ concurrency: number; medianMs: number; mbPerSec: number; runsMs: number[] }> = [];
for (const concurrency of levels) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await loadPack(url, { cache: 'memory', concurrency });
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  rows.push({ concurrency, medianMs: Math.round(ms), mbPerSec: Math.round(size / 1e6 / (ms / 1000)), runsMs: times.map(Math.round) });
}
await server.close();
await rm(root, { recursive: true, force: true });
console.table(rows);
if (values.json) await writeFile(values.json, JSON.stringify({ sizeBytes: size, chunkSize: DEFAULT_CHUNK_SIZE, rows }, null, 2));
