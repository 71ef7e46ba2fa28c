/**
 * The page side of `npm run bench:generate`: one model loaded per side, then
 * timed greedy generations of the same prompt ids. Times are taken here with
 * performance.now(): time to first token (from the call to the first new
 * token reaching this page) and decode tokens/s (tokens after the first, over
 * the time after the first).
 *
 * - tessera: engine.loadGenerator(pack) in its Web Worker, KV cache kept by ORT
 *   (GPU buffers on WebGPU), tokens streamed back as chunks;
 * - plain: transformers.js as its users write it (AutoModelForCausalLM +
 *   generate with a streamer), on this page's thread, from the hub look-alike.
 * Both load their ORT wasm from this origin.
 */
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import { transformersWasmPaths } from '../../src/backend/transformers-wasm-paths.ts';
import { createEngine } from '../../src/transport/create-engine.ts';
import type { Engine, TextGenerator } from '../../src/engine/engine.ts';

export interface GenRun {
  ttftMs: number;
  decodeTokensPerSec: number;
  tokens: number;
  ids: number[];
}

function summarise(t0: number, firstAt: number, end: number, ids: number[]): GenRun {
  const rest = ids.length - 1;
  return { ttftMs: firstAt - t0, decodeTokensPerSec: rest > 0 ? rest / ((end - firstAt) / 1000) : 0, tokens: ids.length, ids };
}

let engine: Engine | undefined;
let generator: TextGenerator | undefined;
let plainModel: Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>> | undefined;

const bench = {
  async tesseraLoad(packUrl: string, device: 'wasm' | 'webgpu') {
    const t0 = performance.now();
    engine = await createEngine();
    generator = await engine.loadGenerator(packUrl, { device, cache: { type: 'memory' } });
    return { loadMs: performance.now() - t0, device: generator.device, reason: generator.deviceReason };
  },

  async tessera(prompt: string, maxNewTokens: number): Promise<GenRun & { promptTokens: number }> {
    if (!generator) throw new Error('tesseraLoad first');
    const ids: number[] = [];
    let firstAt = 0;
    const t0 = performance.now();
    const stream = generator.generate({ prompt, maxNewTokens });
    for await (const chunk of stream) {
      if (chunk.tokenIds.length > 0 && ids.length === 0) firstAt = performance.now();
      ids.push(...chunk.tokenIds);
    }
    const result = await stream.result;
    return { ...summarise(t0, firstAt, performance.now(), ids), promptTokens: result.promptTokens };
  },

  async tesseraDispose() {
    await engine?.dispose();
    engine = undefined;
    generator = undefined;
  },

  async plainLoad(hubUrl: string, modelId: string, device: 'wasm' | 'webgpu') {
    env.remoteHost = `${hubUrl}/`;
    env.allowRemoteModels = true;
    env.allowLocalModels = false;
    env.useBrowserCache = false;
    (env.backends.onnx.wasm as { wasmPaths?: unknown }).wasmPaths = transformersWasmPaths();
    const t0 = performance.now();
    // The generated folder names its weights model.onnx.data (Tessera's writer), not Optimum's
    // model.onnx_data: name the file, which transformers.js then fetches itself.
    plainModel = await AutoModelForCausalLM.from_pretrained(modelId, {
      device,
      dtype: 'fp32',
      session_options: { externalData: [{ path: 'model.onnx.data', data: 'onnx/model.onnx.data' }] },
    } as never);
    return { loadMs: performance.now() - t0 };
  },

  async plain(promptIds: number[], maxNewTokens: number): Promise<GenRun> {
    if (!plainModel) throw new Error('plainLoad first');
    const ids: number[] = [];
    let firstAt = 0;
    let puts = 0;
    // transformers.js's streamer contract: put() first with the prompt, then with each new token.
    const streamer = {
      put(value: bigint[][]) {
        if (puts++ === 0) return;
        if (ids.length === 0) firstAt = performance.now();
        ids.push(Number(value[0]?.[0]));
      },
      end() {},
    };
    const n = promptIds.length;
    const t0 = performance.now();
    await plainModel.generate({
      input_ids: new Tensor('int64', BigInt64Array.from(promptIds, BigInt), [1, n]),
      attention_mask: new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
      max_new_tokens: maxNewTokens,
      do_sample: false,
      streamer,
    } as never);
    return summarise(t0, firstAt, performance.now(), ids);
  },

  async plainDispose() {
    await plainModel?.dispose();
    plainModel = undefined;
  },
};

(globalThis as unknown as { bench: typeof bench }).bench = bench;
document.getElementById('status')!.textContent = 'ready';
