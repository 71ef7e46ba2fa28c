/**
 * A loaded decoder pack -> a TextGenerator: reads config.json,
 * generation_config.json, tokenizer.json and tokenizer_config.json, creates
 * the session (KV outputs kept on the GPU on WebGPU), and wires the loop.
 * Shared by every transport: the worker transport runs this inside its worker.
 */
import { createTextTokenizer } from '../../backend/hf-tokenizer.ts';
import type { OrtSession, OrtSessionOptions } from '../../backend/ort.ts';
import { TesseraError } from '../../errors.ts';
import type { DeviceRequest } from '../../protocol/device.ts';
import type { PackManifest } from '../../pack/manifest.ts';
import { graphFiles } from '../graph-files.ts';
import { parseDecoderConfig } from './decoder-config.ts';
import { generationStream } from './generation-stream.ts';
import { createKvDecoder } from './kv-decoder.ts';
import { promptIds, runGeneration } from './run-generation.ts';
import type { DecoderDtype, TextGenerator } from './text-generator.ts';
import { maxTokenBytes } from './max-token-bytes.ts';

export interface CreateTextGeneratorOptions {
  id: string;
  /** The manifest cut down to the chosen variant (see manifestForVariant). */
  manifest: PackManifest;
  files: ReadonlyMap<string, Uint8Array>;
  dtype: DecoderDtype;
  device?: DeviceRequest;
  createSession: (options: OrtSessionOptions) => Promise<OrtSession>;
  signal?: AbortSignal;
  /** Called once disposed (the engine forgets the model). */
  onDispose?: () => void;
}

/**
 * @example
 * const generator = await createTextGenerator({ id, manifest, files, dtype: 'fp32', createSession: createOrtSession });
 */
export async function createTextGenerator(options: CreateTextGeneratorOptions): Promise<TextGenerator> {
  const { manifest, files } = options;
  const graphPath = (manifest.graphs[0] as { path: string }).path;
  // config files sit at the folder root, the graph under onnx/.
  const json = (name: string, required: boolean): Record<string, unknown> | undefined => {
    const bytes = files.get(name);
    if (!bytes) {
      if (!required) return undefined;
      throw new TesseraError('invalid-model', `pack ${manifest.name} has no ${name}: a decoder pack needs config.json, tokenizer.json and tokenizer_config.json beside onnx/`, { details: { file: name } });
    }
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    } catch (cause) {
      throw new TesseraError('invalid-model', `${name} in pack ${manifest.name} is not valid JSON`, { cause, details: { file: name } });
    }
  };
  const config = parseDecoderConfig(json('config.json', true) as Record<string, unknown>, json('generation_config.json', false));
  const tokenizerJson = json('tokenizer.json', true);
  const tokenizer = createTextTokenizer({ tokenizerJson, tokenizerConfig: json('tokenizer_config.json', false) ?? {} });
  const longestToken = maxTokenBytes(tokenizerJson);
  const { graph, externalData } = graphFiles(manifest, files);
  const gpuOutputs = Array.from({ length: config.layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();
  const session = await options.createSession({
    graph, externalData, device: options.device ?? 'auto', gpuOutputs,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let disposed = false;
  const closed = () => new TesseraError('session-closed', `generator ${options.id} was disposed; load it again to generate`, { details: { id: options.id } });
  const context = { tokenizer, config, newDecoder: () => createKvDecoder(session, config) };

  return {
    id: options.id,
    manifest,
    device: session.device,
    deviceReason: session.reason,
    modelType: config.modelType,
    contextLength: config.contextLength,
    dtype: options.dtype,
    graph: graphPath,
    ...(longestToken === undefined ? {} : { maxTokenBytes: longestToken }),
    generate(request, callOptions = {}) {
      return generationStream(async (emit, signal) => {
        if (disposed) throw closed();
        return runGeneration(context, request, emit, signal);
      }, callOptions);
    },
    async countTokens(input) {
      if (disposed) throw closed();
      return promptIds(tokenizer, input).length;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      options.onDispose?.();
      await session.release();
    },
  };
}
