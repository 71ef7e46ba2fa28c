/**
 * `npm run bench:load [-- --runs 3 --size 512MiB --device wasm|webgpu --network loopback|cdn|slow --transport worker|in-process --json FILE]`
 *
 * Headless Chromium against a local ranged HTTP server, with a generated
 * model of random (incompressible) weights. Every figure is compared with a
 * peer measured in the same run:
 * - cold load (network -> verified IndexedDB cache -> session) vs the physical
 *   limit: parallel ranged fetch of the same bytes into memory + session.
 * - warm load (IndexedDB -> session) vs ONNX Runtime Web fetching the URLs itself.
 * - resume: a cold load aborted at 50% then resumed, vs an uninterrupted cold load.
 * - peak memory of the renderer and of the GPU process, each sampled on its
 *   own, during a cold and during a warm load, vs the model size.
 * - five load/dispose cycles in one engine (its worker ends after each last
 *   dispose): renderer growth and each cycle's peak vs the model.
 * - what verifying the cached chunk Blobs costs on a warm load: the probe the
 *   loader does (size + last byte) against re-hashing every chunk.
 * `--network cdn|slow` puts a shaping proxy (bench/lib/shaping-proxy.ts)
 * between the browser and the server; loopback is the raw local server.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateModelFile } from '../src/cli/generate-model.ts';
import { parseSize } from '../src/cli/parse-size.ts';
import { packModel } from '../src/pack/pack-model.ts';
import { DEFAULT_CONCURRENCY } from '../src/fetch/load-pack.ts';
import type { PackManifest } from '../src/pack/manifest.ts';
import { startRangeServer } from '../test/helpers/range-server.ts';
import { launchBenchBrowser, serveBenchPage, type BenchBrowser } from './lib/bench-page.ts';
import { describeProfile, networkProfile } from './lib/network-profile.ts';
import { findBrowserPid } from './lib/proc.ts';
import { formatTable, median, mib, pass, ratio } from './lib/stats.ts';
import { startProcessMemorySampler } from './lib/renderer-memory.ts';
import { startShapingProxy } from './lib/shaping-proxy.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '512MiB' },
    json: { type: 'string' },
    // `--device webgpu`: every session (Tessera, limit, naive) on WebGPU instead of wasm.
    device: { type: 'string', default: 'wasm' },
    network: { type: 'string', default: 'loopback' },
    // `--weights copy`: Tessera loads take the copying path (default build, bytes) even where JSPI streams.
    weights: { type: 'string', default: 'auto' },
    // Layers of the generated model (default: one per 256 MiB, at least 4). ORT reads each
    // initializer whole into one JS buffer, so the largest layer is part of every warm peak.
    layers: { type: 'string' },
    // `--phases warm`: only the first visit, the warm load and its peer (a quick memory look).
    phases: { type: 'string', default: 'all' },
    // `--prepack false`: only the prepack: false configuration (e.g. at 2 GiB on wasm, where
    // ORT's prepacked second copy would not fit the 4 GiB wasm32 heap).
    prepack: { type: 'string', default: 'both' },
    // `--breakdown`: the cold load's files-ready time split by layer (fetch only, + verify, + store), in the first configuration.
    breakdown: { type: 'boolean', default: false },
    // `--transport in-process`: Tessera's engine on the page's main thread (the fallback where no worker may start) instead of its worker.
    transport: { type: 'string', default: 'worker' },
  },
});
if (args.weights !== 'auto' && args.weights !== 'copy') throw new Error(`--weights must be auto or copy, got ${args.weights}`);
const weightsRequest = args.weights as 'auto' | 'copy';
if (args.transport !== 'worker' && args.transport !== 'in-process') throw new Error(`--transport must be worker or in-process, got ${args.transport}`);
const transport = args.transport as 'worker' | 'in-process';
const profile = networkProfile(args.network!);
if (args.device !== 'wasm' && args.device !== 'webgpu') throw new Error(`--device must be wasm or webgpu, got ${args.device}`);
const device = args.device as 'wasm' | 'webgpu';
const runs = Number(args.runs);
const sizeBytes = parseSize(args.size!);
const layers = args.layers ? Number(args.layers) : Math.max(4, Math.ceil(sizeBytes / (256 * 1024 * 1024)));
if (!Number.isInteger(layers) || layers < 1) throw new Error(`--layers must be a positive integer, got ${args.layers}`);
if (args.phases !== 'all' && args.phases !== 'warm') throw new Error(`--phases must be all or warm, got ${args.phases}`);
const allPhases = args.phases === 'all';
const root = resolve('.cache/bench/load');
const packDir = join(root, `pack-${sizeBytes}-${layers}l`);

async function preparePack(): Promise<PackManifest> {
  const manifestPath = join(packDir, 'manifest.json');
  if (existsSync(manifestPath)) return JSON.parse(readFileSync(manifestPath, 'utf8')) as PackManifest;
  const srcDir = join(root, `src-${sizeBytes}`);
  rmSync(srcDir, { recursive: true, force: true });
  mkdirSync(srcDir, { recursive: true });
  console.error(`generating a ${args.size} matmul-chain model with random weights…`);
  const modelPath = join(srcDir, 'model.onnx');
  // By default layers of at most 256 MiB each: within WebGPU's buffer binding limits
  // (SwiftShader: 1 GiB buffers), and beyond 2 GiB the packer splits the
  // external data into several files of at most 2 GiB - 1.
  await generateModelFile({ kind: 'matmul-chain', sizeBytes, seed: 7, layers }, modelPath, { externalData: true });
  console.error('packing…');
  const { manifest } = await packModel(modelPath, { out: packDir, name: 'bench-mlp' });
  rmSync(srcDir, { recursive: true, force: true });
  return manifest;
}

interface RunResult {
  limitMs: number;
  limitFetchMs: number;
  coldMs: number;
  /** Cold, in a fresh browser (ORT's wasm fetched and compiled too); the renderer memory peak is taken here. */
  firstVisitMs: number;
  warmMs: number;
  naiveMs: number;
  resumeTotalMs: number;
  resumeRefetchedBytes: number;
  /** Cold (first visit) peaks. */
  peakRendererBytes: number;
  /** Cold again in the same browser, ORT's wasm already compiled and cached: the renderer peak. */
  secondColdPeakRendererBytes: number;
  peakGpuBytes: number;
  /** Warm load peaks. */
  warmPeakRendererBytes: number;
  warmPeakGpuBytes: number;
  baselineRendererBytes: number;
  baselineGpuBytes: number;
  limitPeakRendererBytes: number;
  warmNetworkWeightBytes: number;
  /** The warm peer: plain ORT (JSPI build) creating from the same cached Blobs in its own worker. */
  plainWarmMs: number;
  plainWarmPeakRendererBytes: number;
  plainWarmPeakGpuBytes: number;
  /** Cold: when the files were ready (session phase began) vs the whole load. */
  coldFetchMs: number;
  weights: string;
  weightsReason: string;
  /** Renderer RSS after cycle 5 minus after cycle 1 of load + dispose in one engine. */
  cycleGrowthBytes: number;
  /** Renderer peak during each of the five cycles. */
  cyclePeakBytes: number[];
  /** `--breakdown`: cold download alone (ms), with SHA-256 checks, with checks and IndexedDB writes. */
  breakdown?: { fetchMs: number; verifyMs: number; storeMs: number };
  verify: { chunks: number; probeMs: number; hashMs: number };
}

/**
 * Session options measured: ORT's defaults, and `prepack: false` (no weight
 * repacking at creation). The limit always creates its session with the same
 * options as the Tessera load it is compared with; the naive peer is what a
 * user writes, ORT's defaults.
 */
const CONFIGS = [
  { name: 'default', prepack: true },
  { name: 'prepack: false', prepack: false },
] as const;
type ConfigName = (typeof CONFIGS)[number]['name'];
/** WebGPU never prepacks: one configuration there. */
if (!['both', 'true', 'false'].includes(args.prepack!)) throw new Error(`--prepack must be both, true or false, got ${args.prepack}`);
const configs = device === 'webgpu' ? CONFIGS.slice(0, 1) : CONFIGS.filter((c) => args.prepack === 'both' || String(c.prepack) === args.prepack);

const manifest = await preparePack();
const modelBytes = manifest.totalBytes;
const server = await startRangeServer({ root: packDir });
const proxy = profile.name === 'loopback' ? undefined : await startShapingProxy(server.url, profile);
const manifestUrl = `${proxy?.url ?? server.url}/manifest.json`;

/** Renderer and GPU process peaks, sampled separately over the same span. */
function sampleMemory(browserPid: number): { stop(): { renderer: number; gpu: number } } {
  const renderer = startProcessMemorySampler(browserPid, 'renderer');
  const gpu = startProcessMemorySampler(browserPid, 'gpu-process');
  return { stop: () => ({ renderer: renderer.stop(), gpu: gpu.stop() }) };
}
const site = await serveBenchPage('load', join(root, 'dist'));

const results: Record<ConfigName, RunResult[]> = { default: [], 'prepack: false': [] };
type Bench = Window & { bench: any };

/** Where a run is, on stderr: a step that never ends shows which one it was. */
const step = (what: string) => console.error(`  ${new Date().toISOString().slice(11, 19)} ${what}…`);

/** One fresh browser (a renderer that has run nothing else, so peak memory is the load's own) per measured sequence. */
async function inFreshBrowser<T>(work: (page: BenchBrowser['page'], open: () => Promise<void>, browserPid: number) => Promise<T>): Promise<T> {
  const browser = await launchBenchBrowser(site.pageUrl);
  try {
    await browser.open();
    return await work(browser.page, browser.open, findBrowserPid(browser.profile));
  } finally {
    await browser.close();
  }
}

try {
  for (let run = 1; run <= runs; run++) {
    // A returning visitor without Tessera: the browser has ORT's wasm cached
    // from a first visit, the model is downloaded again (the second visit is measured).
    const naive = !allPhases ? { totalMs: Number.NaN } : await inFreshBrowser(async (page, open) => {
      await page.evaluate(([url, d]) => (window as unknown as Bench).bench.naive(url, d), [manifestUrl, device] as const);
      await open();
      return page.evaluate(([url, d]) => (window as unknown as Bench).bench.naive(url, d), [manifestUrl, device] as const);
    });
    // Alternate which configuration goes first, so neither always meets the quieter machine.
    const order = run % 2 === 1 ? configs : [...configs].reverse();
    for (const config of order) {
      const result = await inFreshBrowser(async (page, open, browserPid) => {
        const opts = { prepack: config.prepack, device, weights: weightsRequest, transport };
        // A first visit, in a renderer that has run nothing else: its peak
        // memory is the load's own. Its time includes fetching and compiling
        // ORT's wasm, which the limit below (run second) would not pay: the
        // timed cold load is the next one, under the same conditions as the limit.
        await page.evaluate(() => (window as unknown as Bench).bench.clearCache());
        const baseline = sampleMemory(browserPid).stop();
        const sampler = sampleMemory(browserPid);
        step(`run ${run} [${config.name}]: first visit`);
        const firstVisit = await page.evaluate(([url, o]) => (window as unknown as Bench).bench.tessera(url, o), [manifestUrl, opts] as const);
        const coldPeak = sampler.stop();

        // The warm load next, while this renderer has held nothing but the
        // first visit's page (its worker, with the wasm heap, has ended): its
        // peak is the warm load's own, not what the limit's run left behind.
        await open();
        server.resetStats();
        const warmSampler = sampleMemory(browserPid);
        step('warm load and one run');
        const warm = await page.evaluate(([url, o]) => (window as unknown as Bench).bench.tessera(url, o), [manifestUrl, { ...opts, run: true }] as const);
        if (!(warm.outputValues > 0)) throw new Error(`the warm-loaded model did not compute (output values: ${warm.outputValues})`);
        const warmPeak = warmSampler.stop();
        const warmNetworkWeightBytes = weightBytes(server.stats().byPath);
        const verify = await page.evaluate((url) => (window as unknown as Bench).bench.verifyCost(url), manifestUrl);

        // ORT's own floor for the same Blobs, in a renderer holding only the page again.
        await open();
        const plainSampler = sampleMemory(browserPid);
        step('plain ORT on the same Blobs');
        const plain = await page.evaluate(([url, p, d]) => (window as unknown as Bench).bench.plainBlob(url, p, d), [manifestUrl, config.prepack, device] as const);
        const plainPeak = plainSampler.stop();
        const plainFields = { plainWarmMs: plain.totalMs, plainWarmPeakRendererBytes: plainPeak.renderer, plainWarmPeakGpuBytes: plainPeak.gpu };
        const rss: number[] = [];
        const cyclePeaks: number[] = [];
        if (allPhases) {
          // Five warm load/dispose cycles in one engine. Its worker ends after
          // each last dispose (a wasm heap never shrinks) and the next load starts
          // a fresh one: each cycle's peak, and what the renderer holds after it.
          // Before the limit runs: the limit's session lives in the page's own
          // wasm heap, which a reload leaves to the detached page's garbage
          // collection (measured: 1.9 GB still held a second after the reload,
          // freed at some later cycle), and the cycles would count it.
          step('five load/dispose cycles');
          await open();
          for (let cycle = 0; cycle < 5; cycle++) {
            const cycleSampler = startProcessMemorySampler(browserPid, 'renderer');
            await page.evaluate(([url, o]) => (window as unknown as Bench).bench.cycle(url, o), [manifestUrl, opts] as const);
            cyclePeaks.push(cycleSampler.stop());
            await new Promise((r) => setTimeout(r, 300));
            rss.push(startProcessMemorySampler(browserPid, 'renderer').stop());
          }
          await page.evaluate(() => (window as unknown as Bench).bench.endCycles());
        }
        if (!allPhases) {
          console.error(
            `run ${run}/${runs} [${config.name}]: weights ${warm.weights} on ${warm.device}, first visit ${firstVisit.totalMs.toFixed(0)} ms, warm ${warm.totalMs.toFixed(0)} ms (then one run ${warm.runMs.toFixed(0)} ms, ${warm.outputValues} output values), plain ORT ${plain.totalMs.toFixed(0)} ms (read ${plain.readMs.toFixed(0)}), ` +
              `cold peak renderer ${mib(coldPeak.renderer)} MiB, warm peak renderer ${mib(warmPeak.renderer)} / gpu ${mib(warmPeak.gpu)}, plain ORT peak renderer ${mib(plainPeak.renderer)} / gpu ${mib(plainPeak.gpu)} (idle ${mib(baseline.renderer)} / ${mib(baseline.gpu)})`,
          );
          return { ...warmOnly(firstVisit.totalMs, warm.totalMs, coldPeak, warmPeak, baseline, warm, verify, warmNetworkWeightBytes), ...plainFields } satisfies RunResult;
        }

        await open();
        await page.evaluate(() => (window as unknown as Bench).bench.clearCache());
        step('cold load');
        const secondColdSampler = sampleMemory(browserPid);
        const cold = await page.evaluate(([url, o]) => (window as unknown as Bench).bench.tessera(url, o), [manifestUrl, opts] as const);
        const secondColdPeak = secondColdSampler.stop();

        await open();
        const limitSampler = sampleMemory(browserPid);
        step('limit');
        const limit = await page.evaluate(([url, c, p, d]) => (window as unknown as Bench).bench.limit(url, c, p, d), [manifestUrl, DEFAULT_CONCURRENCY, config.prepack, device] as const);
        const limitPeakRendererBytes = limitSampler.stop().renderer;



        await open();
        await page.evaluate(() => (window as unknown as Bench).bench.clearCache());
        server.resetStats();
        step('resume: cut at 50%, then again');
        const first = await page.evaluate(([url, o]) => (window as unknown as Bench).bench.tessera(url, { ...o, abortAtFraction: 0.5 }), [manifestUrl, opts] as const);
        await open();
        const second = await page.evaluate(([url, o]) => (window as unknown as Bench).bench.tessera(url, o), [manifestUrl, opts] as const);
        const served = weightBytes(server.stats().byPath);
        if (!first.aborted) throw new Error('the resume run was not aborted at 50%');

        // Which layer the cold load's files-ready time goes to, each in a fresh page on this thread.
        let breakdown: RunResult['breakdown'];
        if (args.breakdown && config === configs[0]) {
          await open();
          const fetchOnly = await page.evaluate(([url, c]) => (window as unknown as Bench).bench.fetchOnly(url, c), [manifestUrl, DEFAULT_CONCURRENCY] as const);
          await open();
          const verified = await page.evaluate((url) => (window as unknown as Bench).bench.loaderOnly(url, 'memory'), manifestUrl);
          await open();
          await page.evaluate(() => (window as unknown as Bench).bench.clearCache());
          const stored = await page.evaluate((url) => (window as unknown as Bench).bench.loaderOnly(url, 'indexeddb'), manifestUrl);
          breakdown = { fetchMs: fetchOnly.totalMs, verifyMs: verified.totalMs, storeMs: stored.totalMs };
          console.error(`run ${run}/${runs} breakdown: fetch only ${fetchOnly.totalMs.toFixed(0)} ms, + SHA-256 ${verified.totalMs.toFixed(0)} ms, + IndexedDB ${stored.totalMs.toFixed(0)} ms`);
        }
        console.error(
          `run ${run}/${runs} [${config.name}]: weights ${warm.weights}, first visit ${firstVisit.totalMs.toFixed(0)} ms, cold ${cold.totalMs.toFixed(0)} ms (files ready ${cold.fetchMs.toFixed(0)}), limit ${limit.totalMs.toFixed(0)} ms (fetch ${limit.fetchMs.toFixed(0)}), ` +
            `warm ${warm.totalMs.toFixed(0)} ms (files ready ${warm.fetchMs.toFixed(0)}), naive ${naive.totalMs.toFixed(0)} ms, resume ${first.totalMs.toFixed(0)} + ${second.totalMs.toFixed(0)} ms (files ready ${second.fetchMs.toFixed(0)}), ` +
            `cold peak renderer ${mib(coldPeak.renderer)} MiB / gpu ${mib(coldPeak.gpu)} MiB, warm peak renderer ${mib(warmPeak.renderer)} / gpu ${mib(warmPeak.gpu)} (limit renderer ${mib(limitPeakRendererBytes)}, idle ${mib(baseline.renderer)} / ${mib(baseline.gpu)}), ` +
            `cycles: after ${rss.map(mib).join(' ')} MiB, peak ${cyclePeaks.map(mib).join(' ')} MiB, verify ${verify.chunks} chunks: probe ${verify.probeMs.toFixed(0)} ms, re-hash ${verify.hashMs.toFixed(0)} ms`,
        );
        return {
          limitMs: limit.totalMs,
          limitFetchMs: limit.fetchMs,
          coldMs: cold.totalMs,
          firstVisitMs: firstVisit.totalMs,
          warmMs: warm.totalMs,
          naiveMs: naive.totalMs,
          resumeTotalMs: first.totalMs + second.totalMs,
          resumeRefetchedBytes: Math.max(0, served - modelBytes),
          peakRendererBytes: coldPeak.renderer,
          secondColdPeakRendererBytes: secondColdPeak.renderer,
          peakGpuBytes: coldPeak.gpu,
          warmPeakRendererBytes: warmPeak.renderer,
          warmPeakGpuBytes: warmPeak.gpu,
          baselineRendererBytes: baseline.renderer,
          baselineGpuBytes: baseline.gpu,
          limitPeakRendererBytes,
          warmNetworkWeightBytes,
          ...plainFields,
          coldFetchMs: cold.fetchMs,
          weights: warm.weights,
          weightsReason: warm.weightsReason,
          cycleGrowthBytes: (rss[4] as number) - (rss[0] as number),
          cyclePeakBytes: cyclePeaks,
          ...(breakdown ? { breakdown } : {}),
          verify,
        } satisfies RunResult;
      });
      results[config.name].push(result);
    }
  }
} finally {
  await site.close();
  await proxy?.close();
  await server.close();
}

/** A `--phases warm` run: what it measured, NaN for what it skipped. */
function warmOnly(
  firstVisitMs: number,
  warmMs: number,
  coldPeak: { renderer: number; gpu: number },
  warmPeak: { renderer: number; gpu: number },
  baseline: { renderer: number; gpu: number },
  warm: { weights: string; weightsReason: string },
  verify: RunResult['verify'],
  warmNetworkWeightBytes: number,
): Omit<RunResult, 'plainWarmMs' | 'plainWarmPeakRendererBytes' | 'plainWarmPeakGpuBytes'> {
  const nan = Number.NaN;
  return {
    limitMs: nan, limitFetchMs: nan, coldMs: nan, firstVisitMs, warmMs, naiveMs: nan, resumeTotalMs: nan, resumeRefetchedBytes: nan,
    peakRendererBytes: coldPeak.renderer, secondColdPeakRendererBytes: nan, peakGpuBytes: coldPeak.gpu, warmPeakRendererBytes: warmPeak.renderer, warmPeakGpuBytes: warmPeak.gpu,
    baselineRendererBytes: baseline.renderer, baselineGpuBytes: baseline.gpu, limitPeakRendererBytes: nan, warmNetworkWeightBytes,
    coldFetchMs: nan, weights: warm.weights, weightsReason: warm.weightsReason, cycleGrowthBytes: nan, cyclePeakBytes: [nan, nan, nan, nan, nan], verify,
  };
}

/** Bytes served for anything but the manifest. */
function weightBytes(byPath: Record<string, { bytes: number }>): number {
  return Object.entries(byPath)
    .filter(([path]) => !path.endsWith('manifest.json'))
    .reduce((sum, [, s]) => sum + s.bytes, 0);
}

const chunk = manifest.chunkSize;
const summarize = (rs: RunResult[]) => {
  const m = (pick: (r: RunResult) => number) => median(rs.map(pick));
  return {
    coldMs: m((r) => r.coldMs),
    coldFetchMs: m((r) => r.coldFetchMs),
    firstVisitMs: m((r) => r.firstVisitMs),
    limitMs: m((r) => r.limitMs),
    limitFetchMs: m((r) => r.limitFetchMs),
    warmMs: m((r) => r.warmMs),
    naiveMs: m((r) => r.naiveMs),
    resumeTotalMs: m((r) => r.resumeTotalMs),
    resumeRefetchedBytes: m((r) => r.resumeRefetchedBytes),
    peakRendererBytes: m((r) => r.peakRendererBytes),
    secondColdPeakRendererBytes: m((r) => r.secondColdPeakRendererBytes),
    peakGpuBytes: m((r) => r.peakGpuBytes),
    warmPeakRendererBytes: m((r) => r.warmPeakRendererBytes),
    warmPeakGpuBytes: m((r) => r.warmPeakGpuBytes),
    baselineRendererBytes: m((r) => r.baselineRendererBytes),
    baselineGpuBytes: m((r) => r.baselineGpuBytes),
    limitPeakRendererBytes: m((r) => r.limitPeakRendererBytes),
    cycleGrowthBytes: m((r) => r.cycleGrowthBytes),
    cyclePeakBytes: [0, 1, 2, 3, 4].map((i) => m((r) => r.cyclePeakBytes[i] as number)),
    breakdown: rs.every((r) => r.breakdown)
      ? { fetchMs: m((r) => r.breakdown!.fetchMs), verifyMs: m((r) => r.breakdown!.verifyMs), storeMs: m((r) => r.breakdown!.storeMs) }
      : undefined,
    verifyProbeMs: m((r) => r.verify.probeMs),
    verifyHashMs: m((r) => r.verify.hashMs),
    warmNetworkWeightBytes: Math.max(...rs.map((r) => r.warmNetworkWeightBytes)),
    plainWarmMs: m((r) => r.plainWarmMs),
    plainWarmPeakRendererBytes: m((r) => r.plainWarmPeakRendererBytes),
    plainWarmPeakGpuBytes: m((r) => r.plainWarmPeakGpuBytes),
    weights: [...new Set(rs.map((r) => `${r.weights} (${r.weightsReason})`))].join('; '),
    runsDetail: rs,
  };
};
const summary = {
  modelBytes,
  files: manifest.files.length,
  chunkSize: chunk,
  runs,
  concurrency: DEFAULT_CONCURRENCY,
  device,
  network: profile,
  weightsRequest,
  configs: Object.fromEntries(configs.map((c) => [c.name, summarize(results[c.name])])),
};
console.log(`\nbench:load  model ${mib(modelBytes)} MiB (${manifest.files.length} files, ${layers} layers, ${chunk / 1048576} MiB chunks), ${device}, network ${describeProfile(profile)}, weights ${weightsRequest}, engine ${transport === "worker" ? "in its worker" : "in-process on the page"}, median of ${runs} runs, concurrency ${DEFAULT_CONCURRENCY}`);
for (const config of configs) {
  const s = summary.configs[config.name]!;
  const prepack = config.prepack;
  // The targets (9), beside the measured ratios.
  const warmPeakTarget = device === 'webgpu' ? 0.5 : prepack ? 1.75 : 1.25;
  const warmTarget = prepack ? 0.5 : 0.25;
  const x = (bytes: number) => (bytes / modelBytes).toFixed(2);
  // The figures are peaks above the idle page (its renderer holds ~130 MiB
  // before any load, 0.25x of a 512 MiB model but 0.06x of 2 GiB): both are printed,
  // the target is checked on the load's own share.
  const idle = s.baselineRendererBytes;
  const above = (bytes: number) => bytes - idle;
  console.log(`\nsession options: ${prepack ? 'ORT defaults (weights prepacked)' : 'prepack: false'}; the limit uses the same options, the naive peer ORT's defaults; weights ${s.weights}\n`);
  console.log(
    formatTable(
      ['measure', 'tessera', 'peer', 'peer is', 'ratio', 'target', 'met'],
      [
        ['network', profile.name, '', describeProfile(profile), '', '', ''],
        ['cold load ms', s.coldMs.toFixed(0), s.limitMs.toFixed(0), 'limit: ranged fetch + session', ratio(s.coldMs, s.limitMs), '<= 1.10', pass(s.coldMs <= 1.1 * s.limitMs)],
        ['cold files ready ms', s.coldFetchMs.toFixed(0), s.limitFetchMs.toFixed(0), "limit's fetch", ratio(s.coldFetchMs, s.limitFetchMs), '', ''],
        ...(s.breakdown
          ? [
              ['  loader: fetch only ms', s.breakdown.fetchMs.toFixed(0), s.limitFetchMs.toFixed(0), "limit's fetch (page thread)", ratio(s.breakdown.fetchMs, s.limitFetchMs), '', ''],
              ['  + SHA-256 of every chunk', s.breakdown.verifyMs.toFixed(0), s.breakdown.fetchMs.toFixed(0), 'fetch only', ratio(s.breakdown.verifyMs, s.breakdown.fetchMs), '', ''],
              ['  + IndexedDB writes', s.breakdown.storeMs.toFixed(0), s.breakdown.verifyMs.toFixed(0), 'fetch + SHA-256', ratio(s.breakdown.storeMs, s.breakdown.verifyMs), '', ''],
            ]
          : []),
        ['first visit ms', s.firstVisitMs.toFixed(0), '', 'cold in a fresh browser (ORT wasm too)', '', '', ''],
        ['warm load ms', s.warmMs.toFixed(0), s.naiveMs.toFixed(0), 'ORT create(url, externalData)', ratio(s.warmMs, s.naiveMs), `<= ${warmTarget.toFixed(2)}`, pass(s.warmMs <= warmTarget * s.naiveMs)],
        ['resume total ms', s.resumeTotalMs.toFixed(0), s.coldMs.toFixed(0), 'uninterrupted cold load', ratio(s.resumeTotalMs, s.coldMs), '<= 1.10', pass(s.resumeTotalMs <= 1.1 * s.coldMs)],
        ['resume refetched chunks', (s.resumeRefetchedBytes / chunk).toFixed(2), '2', 'allowed', '', '<= 2', pass(s.resumeRefetchedBytes <= 2 * chunk)],
        ['cold peak renderer MiB', mib(s.peakRendererBytes), mib(modelBytes), 'model size (first visit)', x(s.peakRendererBytes), '', ''],
        ['  above the idle page', mib(above(s.peakRendererBytes)), mib(modelBytes), 'model size', x(above(s.peakRendererBytes)), '<= 2.00', pass(above(s.peakRendererBytes) <= 2 * modelBytes)],
        ['  cold again, ORT wasm cached', mib(above(s.secondColdPeakRendererBytes)), mib(modelBytes), 'model size (above idle)', x(above(s.secondColdPeakRendererBytes)), '', ''],
        ['cold peak GPU process MiB', mib(s.peakGpuBytes), mib(modelBytes), 'model size (reported)', x(s.peakGpuBytes), '', ''],
        ['warm peak renderer MiB', mib(s.warmPeakRendererBytes), mib(modelBytes), 'model size', x(s.warmPeakRendererBytes), '', ''],
        ['  above the idle page', mib(above(s.warmPeakRendererBytes)), mib(modelBytes), 'model size', x(above(s.warmPeakRendererBytes)), `<= ${warmPeakTarget.toFixed(2)}`, pass(above(s.warmPeakRendererBytes) <= warmPeakTarget * modelBytes)],
        ['  plain ORT, above idle', mib(above(s.plainWarmPeakRendererBytes)), mib(modelBytes), 'model size (ORT JSPI, same Blobs)', x(above(s.plainWarmPeakRendererBytes)), '', ''],
        ['warm peak GPU process MiB', mib(s.warmPeakGpuBytes), mib(modelBytes), 'model size (reported)', x(s.warmPeakGpuBytes), '', ''],
        ['warm peak renderer vs plain ORT', mib(s.warmPeakRendererBytes), mib(s.plainWarmPeakRendererBytes), 'plain ORT JSPI, same Blobs', ratio(above(s.warmPeakRendererBytes), above(s.plainWarmPeakRendererBytes)), '', ''],
        ['plain ORT warm peak GPU MiB', mib(s.plainWarmPeakGpuBytes), mib(modelBytes), 'model size (reported)', x(s.plainWarmPeakGpuBytes), '', ''],
        ['warm load vs plain ORT ms', s.warmMs.toFixed(0), s.plainWarmMs.toFixed(0), 'plain ORT JSPI, same Blobs', ratio(s.warmMs, s.plainWarmMs), '', ''],
        ['limit peak renderer MiB', mib(s.limitPeakRendererBytes), mib(modelBytes), 'limit run (fetch + session)', x(s.limitPeakRendererBytes), '', ''],
        ['idle renderer / GPU MiB', `${mib(s.baselineRendererBytes)} / ${mib(s.baselineGpuBytes)}`, '', 'before load (included above)', '', '', ''],
        ['5 load/dispose growth MiB', mib(s.cycleGrowthBytes), mib(modelBytes), 'model size (cycle 5 - cycle 1)', x(s.cycleGrowthBytes), '<= 0.10', pass(s.cycleGrowthBytes <= 0.1 * modelBytes)],
        ['cycle peaks renderer MiB', s.cyclePeakBytes.map(mib).join(' '), mib(modelBytes), 'model size (each of 5 cycles)', s.cyclePeakBytes.map(x).join(' '), '', ''],
        ['warm verify: probe ms', s.verifyProbeMs.toFixed(0), s.verifyHashMs.toFixed(0), 're-hash every cached chunk', ratio(s.verifyProbeMs, s.verifyHashMs), '', ''],
        ['warm network weight bytes', String(s.warmNetworkWeightBytes), '0', 'expected', '', '0', pass(s.warmNetworkWeightBytes === 0)],
      ],
    ),
  );
}
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote ${args.json}`);
}
