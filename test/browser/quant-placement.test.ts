/**
 * Where ONNX Runtime Web's WebGPU provider places the quantized variants'
 * nodes, read from ORT's own verbose node-placement log, for both builds
 * Tessera loads (the default JSEP bundle, and the JSPI build used where the
 * realm has JSPI): q4's MatMulNBits runs on the GPU; q8's MatMulInteger and
 * DynamicQuantizeLinear have no WebGPU kernel, so ORT gives them to its CPU
 * (wasm) provider, while its DequantizeLinear stays on the GPU. The GPU
 * provider is JsExecutionProvider in the JSEP bundle, WebGpuExecutionProvider
 * in the JSPI build.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { graphFiles } from '../../src/engine/graph-files.ts';
import { loadPack } from '../../src/fetch/load-pack.ts';

const packUrl = inject('llamaPackUrl');
const lines: string[] = [];
const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error };

// Emscripten binds console's functions when the module starts, so the sink
// goes in before either build initialises and stays until the file is done.
beforeAll(() => {
  const sink = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  Object.assign(console, { log: sink, info: sink, warn: sink, error: sink });
});
afterAll(() => Object.assign(console, saved));

/** Op types per provider from ORT's "Node(s) placed on [X]" listing. */
function placements(log: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of log) {
    const header = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (header) {
      current = out.get(header[1] as string) ?? [];
      out.set(header[1] as string, current);
      continue;
    }
    const entry = /VerifyEachNodeIsAssignedToAnEp\]\s{2,}(\w+) \(/.exec(line);
    if (entry && current) current.push(entry[1] as string);
    else if (!/VerifyEachNodeIsAssignedToAnEp/.test(line)) current = undefined;
  }
  return out;
}

describe('quantized variants on the WebGPU provider', () => {
  for (const build of ['onnxruntime-web', 'onnxruntime-web/jspi'] as const) {
    it(`${build}: q4 MatMulNBits on the GPU; q8 MatMulInteger and DynamicQuantizeLinear on the CPU provider`, async () => {
      const ort = build === 'onnxruntime-web' ? await import('onnxruntime-web') : await import('onnxruntime-web/jspi');
      const { manifest, files } = await loadPack(packUrl, { cache: 'memory' });
      const placed = async (path: string) => {
        const { graph, externalData } = graphFiles(manifest, files, manifest.graphs.findIndex((g) => g.path === path));
        lines.length = 0;
        const session = await ort.InferenceSession.create(graph, { executionProviders: ['webgpu'], externalData, logSeverityLevel: 0, logVerbosityLevel: 0 });
        await session.release();
        return placements(lines);
      };
      const q4 = await placed('onnx/model_q4.onnx');
      const gpu = [...q4.keys()].find((ep) => ep !== 'CPUExecutionProvider') as string;
      expect(gpu).toMatch(/Js|WebGpu/);
      expect(q4.get(gpu)?.filter((op) => op === 'MatMulNBits').length).toBe(2 * 7 + 1);
      expect(q4.get('CPUExecutionProvider') ?? []).not.toContain('MatMulNBits');
      const q8 = await placed('onnx/model_quantized.onnx');
      const cpu = q8.get('CPUExecutionProvider') ?? [];
      expect(cpu.filter((op) => op === 'MatMulInteger').length).toBe(2 * 7 + 1);
      expect(cpu.filter((op) => op === 'DynamicQuantizeLinear').length).toBe(2 * 4 + 1);
      expect(q8.get(gpu)).toContain('DequantizeLinear');
    });
  }
});
