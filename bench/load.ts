/**
 * `npm run bench:load [-- --runs 3 --size 512MiB --json FILE]`
 *
 * Headless Chromium against a local ranged HTTP server, with a generated
 * model of random (incompressible) weights. Every figure is compared with a
 * peer measured in the same run:
 * - cold load (network -> verified IndexedDB cache -> session) vs the physical
 *   limit: parallel ranged fetch of the same bytes into memory + session.
 * - warm load (IndexedDB -> session) vs ONNX Runtime Web fetching the URLs itself.
 * - resume: a cold load aborted at 50% then resumed, vs an uninterrupted cold load.
 * - peak renderer memory during a cold load vs the model size.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateModelFile } from '../src/cli/generate-model.ts';
import { parseSize } from '../src/cli/parse-size.ts';
import { packModel } from '../src/pack/pack-model.ts';
import { DEFAULT_CONCURRENCY } from '../src/fetch/load-pack.ts';
import type { PackManifest } from '../src/pack/manifest.ts';
import { startRangeServer } from '../test/helpers/range-server.ts';
import { launchBenchBrowser, serveBenchPage } from './lib/bench-page.ts';
import { formatTable, median, mib } from './lib/stats.ts';
import { startRendererMemorySampler } from './lib/renderer-memory.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '512MiB' },
    json: { type: 'string' },
  },
});
const runs = Number(args.runs);
const sizeBytes = parseSize(args.size!);
const root = resolve('.cache/bench/load');
const packDir = join(root, `pack-${sizeBytes}`);

async function preparePack(): Promise<PackManifest> {
  const manifestPath = join(packDir, 'manifest.json');
  if (existsSync(manifestPath)) return JSON.parse(readFileSync(manifestPath, 'utf8')) as PackManifest;
  const srcDir = join(root, `src-${sizeBytes}`);
  rmSync(srcDir, { recursive: true, force: true });
  mkdirSync(srcDir, { recursive: true });
  console.error(`generating a ${args.size} matmul-chain model with random weights…`);
  const modelPath = join(srcDir, 'model.onnx');
  await generateModelFile({ kind: 'matmul-chain', sizeBytes, seed: 7 }, modelPath, { externalData: true });
  console.error('packing…');
  const { manifest } = await packModel(modelPath, { out: packDir, name: 'bench-mlp' });
  rmSync(srcDir, { recursive: true, force: true });
  return manifest;
}

interface RunResult {
  limitMs: number;
  limitFetchMs: number;
  coldMs: number;
  warmMs: number;
  naiveMs: number;
  resumeTotalMs: number;
  resumeRefetchedBytes: number;
  peakRendererBytes: number;
  baselineRendererBytes: number;
  limitPeakRendererBytes: number;
  warmNetworkWeightBytes: number;
}

const manifest = await preparePack();
const modelBytes = manifest.totalBytes;
const server = await startRangeServer({ root: packDir });
const manifestUrl = `${server.url}/manifest.json`;
const site = await serveBenchPage('load', join(root, 'dist'));

const results: RunResult[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    const browser = await launchBenchBrowser(site.pageUrl);
    const { page, open } = browser;
    const browserPid = findBrowserPid(browser.profile);
    try {
      await open();
      type Bench = Window & { bench: any };

      // Cold first, in a renderer that has run nothing else, so its peak memory is its own.
      await page.evaluate(() => (window as unknown as Bench).bench.clearCache());
      const baselineRendererBytes = startRendererMemorySampler(browserPid).stop();
      const sampler = startRendererMemorySampler(browserPid);
      const cold = await page.evaluate((url) => (window as unknown as Bench).bench.tessera(url), manifestUrl);
      const peakRendererBytes = sampler.stop();

      await open();
      const limitSampler = startRendererMemorySampler(browserPid);
      const limit = await page.evaluate(([url, c]) => (window as unknown as Bench).bench.limit(url, c), [manifestUrl, DEFAULT_CONCURRENCY] as const);
      const limitPeakRendererBytes = limitSampler.stop();
      await open();
      const naive = await page.evaluate((url) => (window as unknown as Bench).bench.naive(url), manifestUrl);

      await open();
      server.resetStats();
      const warm = await page.evaluate((url) => (window as unknown as Bench).bench.tessera(url), manifestUrl);
      const warmNetworkWeightBytes = weightBytes(server.stats().byPath);

      await open();
      await page.evaluate(() => (window as unknown as Bench).bench.clearCache());
      server.resetStats();
      const first = await page.evaluate((url) => (window as unknown as Bench).bench.tessera(url, { abortAtFraction: 0.5 }), manifestUrl);
      await open();
      const second = await page.evaluate((url) => (window as unknown as Bench).bench.tessera(url), manifestUrl);
      const served = weightBytes(server.stats().byPath);
      if (!first.aborted) throw new Error('the resume run was not aborted at 50%');

      const result: RunResult = {
        limitMs: limit.totalMs,
        limitFetchMs: limit.fetchMs,
        coldMs: cold.totalMs,
        warmMs: warm.totalMs,
        naiveMs: naive.totalMs,
        resumeTotalMs: first.totalMs + second.totalMs,
        resumeRefetchedBytes: Math.max(0, served - modelBytes),
        peakRendererBytes,
        baselineRendererBytes,
        limitPeakRendererBytes,
        warmNetworkWeightBytes,
      };
      results.push(result);
      console.error(`run ${run}/${runs}: cold ${cold.totalMs.toFixed(0)} ms (files ready ${cold.fetchMs.toFixed(0)}), limit fetch ${limit.fetchMs.toFixed(0)} ms, warm files ready ${warm.fetchMs.toFixed(0)} ms, limit ${limit.totalMs.toFixed(0)} ms, warm ${warm.totalMs.toFixed(0)} ms, naive ${naive.totalMs.toFixed(0)} ms, resume ${first.totalMs.toFixed(0)} + ${second.totalMs.toFixed(0)} ms (files ready ${second.fetchMs.toFixed(0)})`);
    } finally {
      await browser.close();
    }
  }
} finally {
  await site.close();
  await server.close();
}

/** Bytes served for anything but the manifest. */
function weightBytes(byPath: Record<string, { bytes: number }>): number {
  return Object.entries(byPath)
    .filter(([path]) => !path.endsWith('manifest.json'))
    .reduce((sum, [, s]) => sum + s.bytes, 0);
}

function findBrowserPid(profile: string): number {
  // The browser process is the one whose command line names this profile and is not a child type.
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(profile) && !cmd.includes('--type=')) return Number(entry);
    } catch {
      // gone
    }
  }
  return 0;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const m = (pick: (r: RunResult) => number) => median(results.map(pick));
const chunk = manifest.chunkSize;
const summary = {
  modelBytes,
  chunkSize: chunk,
  runs,
  concurrency: DEFAULT_CONCURRENCY,
  coldMs: m((r) => r.coldMs),
  limitMs: m((r) => r.limitMs),
  warmMs: m((r) => r.warmMs),
  naiveMs: m((r) => r.naiveMs),
  resumeTotalMs: m((r) => r.resumeTotalMs),
  resumeRefetchedBytes: m((r) => r.resumeRefetchedBytes),
  peakRendererBytes: m((r) => r.peakRendererBytes),
  baselineRendererBytes: m((r) => r.baselineRendererBytes),
  limitPeakRendererBytes: m((r) => r.limitPeakRendererBytes),
  warmNetworkWeightBytes: Math.max(...results.map((r) => r.warmNetworkWeightBytes)),
  runsDetail: results,
};
const ratio = (a: number, b: number) => (a / b).toFixed(2);
const pass = (ok: boolean) => (ok ? 'yes' : 'NO');
console.log(`\nbench:load  model ${mib(modelBytes)} MiB (${manifest.files.length} files, ${chunk / 1048576} MiB chunks), wasm, median of ${runs} runs, concurrency ${DEFAULT_CONCURRENCY}\n`);
console.log(
  formatTable(
    ['measure', 'tessera', 'peer', 'peer is', 'ratio', 'target', 'met'],
    [
      ['cold load ms', summary.coldMs.toFixed(0), summary.limitMs.toFixed(0), 'limit: ranged fetch + session', ratio(summary.coldMs, summary.limitMs), '<= 1.25', pass(summary.coldMs <= 1.25 * summary.limitMs)],
      ['warm load ms', summary.warmMs.toFixed(0), summary.naiveMs.toFixed(0), 'ORT create(url, externalData)', ratio(summary.warmMs, summary.naiveMs), '<= 0.50', pass(summary.warmMs <= 0.5 * summary.naiveMs)],
      ['resume total ms', summary.resumeTotalMs.toFixed(0), summary.coldMs.toFixed(0), 'uninterrupted cold load', ratio(summary.resumeTotalMs, summary.coldMs), '<= 1.10', pass(summary.resumeTotalMs <= 1.1 * summary.coldMs)],
      ['resume refetched chunks', (summary.resumeRefetchedBytes / chunk).toFixed(2), '2', 'allowed', '', '<= 2', pass(summary.resumeRefetchedBytes <= 2 * chunk)],
      ['peak renderer MiB', mib(summary.peakRendererBytes), mib(modelBytes), 'model size', ratio(summary.peakRendererBytes, modelBytes), '< 2.00', pass(summary.peakRendererBytes < 2 * modelBytes)],
      ['peak renderer MiB vs limit', mib(summary.peakRendererBytes), mib(summary.limitPeakRendererBytes), 'limit run (fetch + session)', ratio(summary.peakRendererBytes, summary.limitPeakRendererBytes), '', ''],
      ['renderer before load MiB', mib(summary.baselineRendererBytes), '', 'idle page (included above)', '', '', ''],
      ['warm network weight bytes', String(summary.warmNetworkWeightBytes), '0', 'expected', '', '0', pass(summary.warmNetworkWeightBytes === 0)],
    ],
  ),
);
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote ${args.json}`);
}
