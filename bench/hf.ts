/**
 * `npm run bench:hf [-- --runs 3 --size 256MiB --json FILE --no-prepack --profile --probe ort|idb|read|split]`
 *
 * One Hugging Face-layout encoder (generated, random incompressible float32
 * weights, at least 256 MiB), served by a local hub look-alike; headless
 * Chromium loads it on wasm through plain transformers.js (its own Cache API
 * caching) and through Tessera (`pipeline` with the repository URL source,
 * IndexedDB, in its worker), all in one run, in a fresh profile per run:
 * - cold: pipeline ready + one embedding call, nothing cached;
 * - warm: the same in a fresh page once the cache holds the model;
 * - interrupted at 50%, then loaded again: bytes the server sent twice.
 * Same machine, same server, same ORT wasm (from the page's origin) for both.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize } from '../src/cli/parse-size.ts';
import { DEFAULT_CHUNK_SIZE } from '../src/pack/manifest.ts';
import { hfEncoderShapeFor, writeHfEncoder } from '../test/helpers/hf-model.ts';
import { startHfServer } from '../test/helpers/hf-server.ts';
import { launchBenchBrowser, serveBenchPage } from './lib/bench-page.ts';
import { describeProfile, networkProfile } from './lib/network-profile.ts';
import { findBrowserPid } from './lib/proc.ts';
import { startRendererMemorySampler } from './lib/renderer-memory.ts';
import { startShapingProxy } from './lib/shaping-proxy.ts';
import { formatTable, median, mib, pass, ratio } from './lib/stats.ts';

const { values: args } = parseArgs({
  allowNegative: true,
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '256MiB' },
    json: { type: 'string' },
    profile: { type: 'boolean', default: false },
    // Breakdowns: `--probe ort` (ORT session creation by options), `--probe idb` (IndexedDB read by concurrency),
    // `--probe read` (the warm storage read: transformers.js's Cache API entry vs Tessera's loader),
    // `--probe split` (session creation: the whole file as bytes vs the graph split from its weights over the cached Blob).
    probe: { type: 'string' },
    // `--no-prepack`: Tessera's sessions skip ORT's weight repacking (pipeline option prepack: false).
    prepack: { type: 'boolean', default: true },
    // `--network cdn|slow`: both sides download through the shaping proxy (bench/lib/shaping-proxy.ts).
    network: { type: 'string', default: 'loopback' },
  },
});
const profile = networkProfile(args.network!);
const runs = Number(args.runs);
const sizeBytes = parseSize(args.size!);
const root = resolve('.cache/bench/hf');
const modelId = 'bench/bert';
const modelDir = join(root, `bert-${sizeBytes}`);
const WEIGHTS = `/${modelId}/resolve/main/onnx/model.onnx`;

async function prepareModel(): Promise<{ weightBytes: number; fileBytes: number }> {
  const done = join(root, `bert-${sizeBytes}.json`);
  if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8'));
  rmSync(modelDir, { recursive: true, force: true });
  const shape = hfEncoderShapeFor(sizeBytes);
  console.error(`generating an HF-layout BERT encoder (hidden ${shape.hidden}, ${shape.layers} layers) with random weights…`);
  const enc = await writeHfEncoder(modelDir, { ...shape, seed: 11 });
  const fileBytes = readFileSync(join(modelDir, 'onnx', 'model.onnx')).byteLength;
  const info = { weightBytes: enc.weightBytes, fileBytes };
  // Beside the repository folder, not in it: the hub serves everything in there.
  writeFileSync(done, JSON.stringify(info));
  return info;
}

interface Load {
  readyMs: number;
  totalMs: number;
}
interface RunResult {
  plainColdMs: number;
  plainWarmMs: number;
  tesseraColdMs: number;
  tesseraWarmMs: number;
  plainReadyColdMs: number;
  tesseraReadyColdMs: number;
  plainWarmWeightBytes: number;
  tesseraWarmWeightBytes: number;
  plainRefetchedBytes: number;
  tesseraRefetchedBytes: number;
  tesseraResumeChunksFetched: number;
  /** Weight bytes the server sent before the interruption took effect. */
  plainFirstBytes: number;
  tesseraFirstBytes: number;
  plainReadyWarmMs: number;
  tesseraReadyWarmMs: number;
  tesseraWarmLoaderOnlyMs: number;
  /** Renderer peak during each warm load above what the renderer held just before it (the worker and its wasm heap live there too). */
  plainWarmPeakBytes: number;
  tesseraWarmPeakBytes: number;
  tesseraWarmWeights: string;
}

const { weightBytes, fileBytes } = await prepareModel();
const hub = await startHfServer({ repos: { [modelId]: modelDir } });
const proxy = profile.name === 'loopback' ? undefined : await startShapingProxy(hub.url, profile);
const hubUrl = proxy?.url ?? hub.url;
const site = await serveBenchPage('hf', join(root, 'dist'));
type Bench = Window & { bench: any };
const weightsServed = () => hub.stats().byPath[WEIGHTS]?.bytes ?? 0;

const results: RunResult[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    const browser = await launchBenchBrowser(site.pageUrl, (text) => text.includes('net::ERR_ABORTED'));
    const { page, open } = browser;
    const browserPid = findBrowserPid(browser.profile);
    /** The renderer's peak during `work`, above its resident size just before. */
    const peakAbove = async <T>(work: () => Promise<T>): Promise<{ result: T; peak: number }> => {
      const before = startRendererMemorySampler(browserPid).stop();
      const sampler = startRendererMemorySampler(browserPid);
      const result = await work();
      return { result, peak: sampler.stop() - before };
    };
    try {
      const plain = async (opts: object = {}) => page.evaluate(([h, m, o]) => (window as unknown as Bench).bench.plain(h, m, o), [hubUrl, modelId, opts] as const);
      const tessera = async (opts: object = {}) =>
        page.evaluate(([h, m, o]) => (window as unknown as Bench).bench.tessera(h, m, o), [hubUrl, modelId, { ...opts, ...(args.prepack ? {} : { prepack: false }) }] as const);
      const clearAll = () => page.evaluate(() => (window as unknown as Bench).bench.clearAll());

      if (args.probe === 'ort') {
        const variants: Record<string, unknown>[] = [{ warmFirst: true }, { warmFirst: true, extra: { session: { disable_prepacking: '1' } } }, {}, { extra: { session: { disable_prepacking: '1' } } }];
        for (const v of variants) {
          await open();
          const r = await page.evaluate(([h, m, o]) => (window as unknown as Bench).bench.ortProbe(h, m, o), [hubUrl, modelId, v] as const);
          console.error(`PROBE ${JSON.stringify(v)} ${JSON.stringify(r)}`);
        }
        continue;
      }
      if (args.probe === 'split') {
        // Session creation from Tessera's cached file: the whole file as bytes (default build, JSPI build) vs the split graph over the file's Blob.
        await open();
        await clearAll();
        await tessera();
        for (let i = 0; i < 3; i++) {
          for (const mode of ['asyncify-bytes', 'jspi-bytes', 'jspi-split', 'jspi-split-bytes']) {
            await open();
            console.error(`PROBE split ${JSON.stringify(await page.evaluate(([h, m, o]) => (window as unknown as Bench).bench.splitProbe(h, m, o), [hubUrl, modelId, mode] as const))}`);
          }
        }
        continue;
      }
      if (args.probe === 'read') {
        // The warm path's storage read on each side: transformers.js's Cache API entry vs Tessera's loader from IndexedDB.
        await open();
        await clearAll();
        await plain();
        await tessera();
        for (let i = 0; i < 3; i++) {
          await open();
          console.error(`PROBE read cache-api ${JSON.stringify(await page.evaluate(([h, m]) => (window as unknown as Bench).bench.cacheApiRead(h, m), [hubUrl, modelId] as const))}`);
          await open();
          console.error(`PROBE read tessera-loader ${JSON.stringify(await page.evaluate(([h, m]) => (window as unknown as Bench).bench.loaderOnly(h, m), [hubUrl, modelId] as const))}`);
        }
        continue;
      }
      if (args.probe === 'idb') {
        await open();
        await clearAll();
        await tessera();
        for (const c of [4, 8, 16, 36, 4, 8, 16, 36]) {
          await open();
          console.error(`PROBE idb concurrency ${c}: ${await page.evaluate(([h, m, n]) => (window as unknown as Bench).bench.idbProbe(h, m, n), [hubUrl, modelId, c] as const)} ms`);
        }
        continue;
      }
      if (args.profile) {
        // Warm loads only, each side twice, with the page's and the worker's timelines on stderr.
        page.on('console', (msg) => {
          if (msg.text().startsWith('PROFILE')) console.error(msg.text());
        });
        await open();
        await clearAll();
        await plain();
        await tessera();
        for (let i = 0; i < 2; i++) {
          await open();
          console.error(`PROFILE plain warm ${Date.now()}`, JSON.stringify(await plain()));
          await open();
          console.error(`PROFILE tessera warm ${Date.now()}`, JSON.stringify(await tessera()));
          await open();
          console.error(`PROFILE tessera in-page warm ${Date.now()}`, JSON.stringify(await tessera({ worker: false })));
        }
        continue;
      }
      // Cold and warm, each in a fresh page; caches wiped before each cold load (ORT's wasm included).
      await open();
      await clearAll();
      const plainCold: Load = await plain();
      await open();
      hub.resetStats();
      const { result: plainWarm, peak: plainWarmPeakBytes } = await peakAbove((): Promise<Load> => plain());
      const plainWarmWeightBytes = weightsServed();

      await open();
      await clearAll();
      const tesseraCold: Load = await tessera();
      await open();
      hub.resetStats();
      const { result: tesseraWarm, peak: tesseraWarmPeakBytes } = await peakAbove((): Promise<Load & { stats: { bytesFromNetwork: number }; weightsReason: string }> => tessera());
      const tesseraWarmWeightBytes = weightsServed();
      // Breakdown: Tessera's loader alone, warm, on the page's thread (no worker, no transformers.js).
      await open();
      const loaderOnly: { totalMs: number } = await page.evaluate(([h, m]) => (window as unknown as Bench).bench.loaderOnly(h, m), [hubUrl, modelId] as const);

      // Interrupted at 50%: plain transformers.js cannot be aborted, so the page is left (as a user closing the tab would).
      await open();
      await clearAll();
      hub.resetStats();
      await plain({ signalAt: 0.5 });
      await page.goto('about:blank');
      const plainFirstBytes = weightsServed();
      await open();
      await plain();
      const plainRefetchedBytes = Math.max(0, weightsServed() - fileBytes);

      await open();
      await clearAll();
      hub.resetStats();
      const first = await tessera({ abortAt: 0.5, totalBytes: fileBytes });
      if (!first.aborted) throw new Error('the Tessera load was not aborted at 50%');
      const tesseraFirstBytes = weightsServed();
      await open();
      const second = await tessera();
      const tesseraRefetchedBytes = Math.max(0, weightsServed() - fileBytes);

      const result: RunResult = {
        plainColdMs: plainCold.totalMs,
        plainWarmMs: plainWarm.totalMs,
        tesseraColdMs: tesseraCold.totalMs,
        tesseraWarmMs: tesseraWarm.totalMs,
        plainReadyColdMs: plainCold.readyMs,
        tesseraReadyColdMs: tesseraCold.readyMs,
        plainWarmWeightBytes,
        tesseraWarmWeightBytes,
        plainRefetchedBytes,
        tesseraRefetchedBytes,
        tesseraResumeChunksFetched: second.stats.chunksFetched,
        plainFirstBytes,
        tesseraFirstBytes,
        plainReadyWarmMs: plainWarm.readyMs,
        tesseraReadyWarmMs: tesseraWarm.readyMs,
        tesseraWarmLoaderOnlyMs: loaderOnly.totalMs,
        plainWarmPeakBytes,
        tesseraWarmPeakBytes,
        tesseraWarmWeights: tesseraWarm.weightsReason,
      };
      results.push(result);
      console.error(
        `run ${run}/${runs}: cold plain ${result.plainColdMs.toFixed(0)} ms / tessera ${result.tesseraColdMs.toFixed(0)} ms; warm plain ${result.plainWarmMs.toFixed(0)} / tessera ${result.tesseraWarmMs.toFixed(0)} ms; refetched plain ${mib(plainRefetchedBytes)} MiB (${mib(plainFirstBytes)} MiB sent before the cut) / tessera ${mib(tesseraRefetchedBytes)} MiB (${mib(tesseraFirstBytes)} MiB before)`,
      );
    } finally {
      await browser.close();
    }
  }
} finally {
  await site.close();
  await proxy?.close();
  await hub.close();
}

const m = (pick: (r: RunResult) => number) => median(results.map(pick));
const chunk = DEFAULT_CHUNK_SIZE;
const summary = {
  fileBytes,
  weightBytes,
  chunkSize: chunk,
  runs,
  plainColdMs: m((r) => r.plainColdMs),
  tesseraColdMs: m((r) => r.tesseraColdMs),
  plainWarmMs: m((r) => r.plainWarmMs),
  tesseraWarmMs: m((r) => r.tesseraWarmMs),
  plainRefetchedBytes: m((r) => r.plainRefetchedBytes),
  tesseraRefetchedBytes: m((r) => r.tesseraRefetchedBytes),
  plainWarmWeightBytes: Math.max(...results.map((r) => r.plainWarmWeightBytes)),
  tesseraWarmWeightBytes: Math.max(...results.map((r) => r.tesseraWarmWeightBytes)),
  runsDetail: results,
};
console.log(`\nbench:hf  onnx/model.onnx ${mib(fileBytes)} MiB (${mib(weightBytes)} MiB float32 weights), wasm, ${chunk / 1048576} MiB chunks, median of ${runs} runs${args.prepack ? '' : ', Tessera with prepack: false'}, network ${describeProfile(profile)}\n`);
// The targets (9): on loopback cold and warm <= 0.8x plain transformers.js; on cdn cold <= 0.5x.
const coldTarget = profile.name === 'cdn' ? 0.5 : 0.8;
console.log(`Tessera's warm loads: ${[...new Set(results.map((r) => r.tesseraWarmWeights))].join('; ')}\n`);
console.log(
  formatTable(
    ['measure (ready + 1 call)', 'tessera', 'transformers.js', 'ratio', 'target', 'met'],
    [
      ['network', profile.name, describeProfile(profile), '', '', ''],
      ['cold load ms', summary.tesseraColdMs.toFixed(0), summary.plainColdMs.toFixed(0), ratio(summary.tesseraColdMs, summary.plainColdMs), `<= ${coldTarget.toFixed(2)}`, pass(summary.tesseraColdMs <= coldTarget * summary.plainColdMs)],
      ['warm load ms', summary.tesseraWarmMs.toFixed(0), summary.plainWarmMs.toFixed(0), ratio(summary.tesseraWarmMs, summary.plainWarmMs), '<= 0.80', pass(summary.tesseraWarmMs <= 0.8 * summary.plainWarmMs)],
      ['refetched after 50% (chunks)', (summary.tesseraRefetchedBytes / chunk).toFixed(2), (summary.plainRefetchedBytes / chunk).toFixed(2), '', 'tessera <= 2', pass(summary.tesseraRefetchedBytes <= 2 * chunk)],
      ['refetched after 50% (MiB)', mib(summary.tesseraRefetchedBytes), mib(summary.plainRefetchedBytes), '', '', ''],
      ['warm: pipeline ready ms (no call)', m((r) => r.tesseraReadyWarmMs).toFixed(0), m((r) => r.plainReadyWarmMs).toFixed(0), ratio(m((r) => r.tesseraReadyWarmMs), m((r) => r.plainReadyWarmMs)), '', ''],
      ['cold: pipeline ready ms (no call)', m((r) => r.tesseraReadyColdMs).toFixed(0), m((r) => r.plainReadyColdMs).toFixed(0), ratio(m((r) => r.tesseraReadyColdMs), m((r) => r.plainReadyColdMs)), '', ''],
      ['warm: Tessera loader only ms', m((r) => r.tesseraWarmLoaderOnlyMs).toFixed(0), '', '', '', ''],
      ['warm peak renderer above before, MiB', mib(m((r) => r.tesseraWarmPeakBytes)), mib(m((r) => r.plainWarmPeakBytes)), ratio(m((r) => r.tesseraWarmPeakBytes), m((r) => r.plainWarmPeakBytes)), '', ''],
      ['  as a share of the file', (m((r) => r.tesseraWarmPeakBytes) / fileBytes).toFixed(2), (m((r) => r.plainWarmPeakBytes) / fileBytes).toFixed(2), '', '', ''],
      ['warm weight bytes from network', String(summary.tesseraWarmWeightBytes), String(summary.plainWarmWeightBytes), '', '0', pass(summary.tesseraWarmWeightBytes === 0)],
    ],
  ),
);
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote ${args.json}`);
}
