/**
 * `npm run bench:generate [-- --runs 3 --layers 12 --hidden 768 --vocab 32000 --tokens 32 --webgpu-tokens 4 --json FILE]`
 *
 * One generated LLaMA-style decoder (default 12 layers, hidden 768, vocab
 * 32000: ~134M parameters, fp32, random weights; generated once into
 * .cache/bench/generate, never committed), the same prompt ids, greedy:
 * - Tessera in headless Chromium, wasm (and WebGPU, reported: SwiftShader here
 *   emulates a GPU on the CPU, so it says nothing of real GPU speed);
 * - plain transformers.js (AutoModelForCausalLM.generate with a streamer) on
 *   the same model files in the same browser, wasm;
 * - an onnxruntime-node greedy loop on the same .onnx (the machine's native
 *   CPU ceiling).
 * Time to first token (prefill + first token) and decode tokens/s, medians of
 * `--runs` generations after one warm-up each. The first new tokens of every
 * side are compared (same model, same ids: greedy must agree).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { createTextTokenizer } from '../src/backend/hf-tokenizer.ts';
import { llamaDecoderShape, llamaParameterCount, writeLlamaDecoder } from '../src/pack/generate/llama-decoder.ts';
import { packModel } from '../src/pack/pack-model.ts';
import { startHfServer } from '../test/helpers/hf-server.ts';
import { startRangeServer } from '../test/helpers/range-server.ts';
import { launchBenchBrowser, serveBenchPage } from './lib/bench-page.ts';
import { formatTable, median, pass, ratio } from './lib/stats.ts';
import type { GenRun } from './pages/generate-page.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    layers: { type: 'string', default: '12' },
    hidden: { type: 'string', default: '768' },
    vocab: { type: 'string', default: '32000' },
    tokens: { type: 'string', default: '32' },
    // SwiftShader: each WebGPU step of a big model takes seconds; 0 skips WebGPU.
    'webgpu-tokens': { type: 'string', default: '4' },
    json: { type: 'string' },
  },
});
const runs = Number(args.runs);
const maxNewTokens = Number(args.tokens);
const webgpuTokens = Number(args['webgpu-tokens']);
const shape = llamaDecoderShape({ layers: Number(args.layers), hidden: Number(args.hidden), vocab: Number(args.vocab), maxPositions: 512, seed: 21 });
const name = `llama-l${shape.layers}-h${shape.hidden}-v${shape.vocab}`;
const root = resolve('.cache/bench/generate');
const modelDir = join(root, 'hf', name);
const packsDir = join(root, 'packs');
const PROMPT = 'Once upon a time there was a model that streamed its weights to the edge, and the browser';

async function prepare(): Promise<void> {
  const done = join(root, `${name}.done`);
  if (existsSync(done)) return;
  rmSync(modelDir, { recursive: true, force: true });
  console.error(`generating ${name} (${(llamaParameterCount(shape) / 1e6).toFixed(0)}M parameters) and its pack…`);
  await writeLlamaDecoder(modelDir, shape);
  await packModel(modelDir, { out: join(packsDir, name) });
  writeFileSync(done, '');
}

/** The native ceiling: the plainest greedy loop on onnxruntime-node (default threads). */
async function nodeLoop(promptIds: number[], tokens: number): Promise<GenRun> {
  const session = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'));
  try {
    const headDim = shape.hidden / shape.heads;
    const one = async (): Promise<GenRun> => {
      const ints = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
      let past: Record<string, ort.Tensor> = {};
      for (let l = 0; l < shape.layers; l++) for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, shape.heads, 0, headDim]);
      const ids: number[] = [];
      let input = promptIds;
      let position = 0;
      let firstAt = 0;
      const t0 = performance.now();
      while (ids.length < tokens) {
        const total = position + input.length;
        const out = await session.run({ input_ids: ints(input), attention_mask: ints(new Array(total).fill(1)), position_ids: ints(input.map((_, i) => position + i)), ...past });
        const data = (out.logits as ort.Tensor).data as Float32Array;
        const last = data.subarray(data.length - shape.vocab);
        let best = 0;
        for (let i = 1; i < last.length; i++) if ((last[i] as number) > (last[best] as number)) best = i;
        if (ids.length === 0) firstAt = performance.now();
        ids.push(best);
        if (best === 1 || best === 5) break; // EOS ids of the generated model's generation_config.json
        past = {};
        for (let l = 0; l < shape.layers; l++) for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`] as ort.Tensor;
        position = total;
        input = [best];
      }
      const end = performance.now();
      return { ttftMs: firstAt - t0, decodeTokensPerSec: ids.length > 1 ? (ids.length - 1) / ((end - firstAt) / 1000) : 0, tokens: ids.length, ids };
    };
    await one(); // warm-up
    const results: GenRun[] = [];
    for (let i = 0; i < runs; i++) results.push(await one());
    return medianRun(results);
  } finally {
    await session.release();
  }
}

function medianRun(results: GenRun[]): GenRun {
  return {
    ttftMs: median(results.map((r) => r.ttftMs)),
    decodeTokensPerSec: median(results.map((r) => r.decodeTokensPerSec)),
    tokens: median(results.map((r) => r.tokens)),
    ids: (results[0] as GenRun).ids,
  };
}

await prepare();
const tokenizer = createTextTokenizer({
  tokenizerJson: JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')),
  tokenizerConfig: JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')),
});
const promptIds = tokenizer.encode(PROMPT);
const modelId = `bench/${name}`;
const hub = await startHfServer({ repos: { [modelId]: modelDir } });
const packs = await startRangeServer({ root: packsDir });
const packUrl = `${packs.url}/${name}/manifest.json`;
const site = await serveBenchPage('generate', join(root, 'dist'));
type Bench = Window & { bench: any };

const rows: Record<string, GenRun & { loadMs?: number }> = {};
try {
  console.error(`onnxruntime-node loop: ${promptIds.length} prompt tokens, ${maxNewTokens} new…`);
  rows.node = await nodeLoop(promptIds, maxNewTokens);
  const browser = await launchBenchBrowser(site.pageUrl);
  try {
    const { page, open } = browser;
    const call = <T>(fn: string, ...a: unknown[]): Promise<T> => page.evaluate(([f, xs]) => (window as unknown as Bench).bench[f as string](...(xs as unknown[])), [fn, a] as const) as Promise<T>;
    const timed = async (label: string, run: () => Promise<GenRun>): Promise<GenRun> => {
      await run(); // warm-up: ORT's first run allocates and compiles
      const results: GenRun[] = [];
      for (let i = 0; i < runs; i++) {
        results.push(await run());
        console.error(`${label} run ${i + 1}/${runs}: ttft ${results.at(-1)!.ttftMs.toFixed(0)} ms, ${results.at(-1)!.decodeTokensPerSec.toFixed(2)} tok/s`);
      }
      return medianRun(results);
    };
    for (const [label, device, tokens] of [['tessera-wasm', 'wasm', maxNewTokens], ['tessera-webgpu', 'webgpu', webgpuTokens]] as const) {
      if (tokens <= 0) continue;
      await open();
      const load = await call<{ loadMs: number; device: string; reason: string }>('tesseraLoad', packUrl, device);
      console.error(`${label}: loaded in ${load.loadMs.toFixed(0)} ms on ${load.device} (${load.reason})`);
      const r = await timed(label, async () => {
        const out = await call<GenRun & { promptTokens: number }>('tessera', PROMPT, tokens);
        if (out.promptTokens !== promptIds.length) throw new Error(`Tessera tokenized the prompt to ${out.promptTokens} ids, the harness to ${promptIds.length}`);
        return out;
      });
      rows[label] = { ...r, loadMs: load.loadMs };
      await call('tesseraDispose');
    }
    await open();
    const load = await call<{ loadMs: number }>('plainLoad', hub.url, modelId, 'wasm');
    rows['transformers.js-wasm'] = { ...(await timed('transformers.js-wasm', () => call<GenRun>('plain', promptIds, maxNewTokens))), loadMs: load.loadMs };
    await call('plainDispose');
  } finally {
    await browser.close();
  }
} finally {
  await site.close();
  await hub.close();
  await packs.close();
}

const node = rows.node as GenRun;
const plain = rows['transformers.js-wasm'] as GenRun;
const tess = rows['tessera-wasm'] as GenRun;
const agree = (r: GenRun | undefined) => {
  if (!r) return '';
  const n = Math.min(r.ids.length, node.ids.length);
  return r.ids.slice(0, n).every((id, i) => id === node.ids[i]) ? `yes (${n})` : 'NO';
};
console.log(`\nbench:generate  ${name}: ${(llamaParameterCount(shape) / 1e6).toFixed(0)}M parameters fp32, prompt ${promptIds.length} tokens, greedy ${maxNewTokens} new (WebGPU ${webgpuTokens}), median of ${runs} after a warm-up\n`);
console.log(
  formatTable(
    ['side', 'ttft ms', 'decode tok/s', 'tokens', 'vs transformers.js (tok/s)', 'vs node (tok/s)', 'same tokens as node'],
    Object.entries(rows).map(([label, r]) => [
      label,
      r.ttftMs.toFixed(0),
      r.decodeTokensPerSec.toFixed(2),
      String(r.tokens),
      ratio(r.decodeTokensPerSec, plain.decodeTokensPerSec),
      ratio(r.decodeTokensPerSec, node.decodeTokensPerSec),
      label === 'node' ? '' : agree(r),
    ]),
  ),
);
console.log(`\ntarget: Tessera wasm decode tok/s >= 1.0x transformers.js wasm: ${ratio(tess.decodeTokensPerSec, plain.decodeTokensPerSec)} ${pass(tess.decodeTokensPerSec >= plain.decodeTokensPerSec)}`);
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify({ name, shape, parameters: llamaParameterCount(shape), promptTokens: promptIds.length, maxNewTokens, runs, rows }, null, 2)}\n`);
  console.log(`wrote ${args.json}`);
}
