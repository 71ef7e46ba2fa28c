/**
 * The test-model generator: real ONNX graphs with seeded random weights of any
 * total size, for tests and benchmarks. Outputs are checked against
 * onnxruntime-node (see generate-model.test.ts); `matmul-chain` also has a
 * pure-JS reference.
 */
import type { ModelProto } from '../pack/onnx-types.ts';
import { writeModel } from '../pack/write-model.ts';
import { matmulChainModel, matmulChainShape } from '../pack/generate/matmul-chain.ts';
import { transformerBlockModel, transformerBlockShape } from '../pack/generate/transformer-block.ts';

export const MODEL_KINDS = ['matmul-chain', 'transformer-block'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export interface GenerateModelOptions {
  kind: ModelKind;
  /** Target total weight bytes (the model comes close from below). */
  sizeBytes: number;
  seed?: number;
  /** matmul-chain only: number of layers (default 4). */
  layers?: number;
  /** matmul-chain only: per-layer seeds that override the derived ones. */
  layerSeeds?: Record<number, number>;
  /** transformer-block only: attention heads (default 4). */
  heads?: number;
}

export interface GeneratedModel {
  model: ModelProto;
  /** The shape chosen to hit the size: `d` and `layers` or `heads`. */
  shape: { d: number; layers?: number; heads?: number };
}

/**
 * @example
 * const { model, shape } = generateModel({ kind: 'matmul-chain', sizeBytes: 3 << 20, seed: 1 });
 * await writeModel(model, '.cache/mlp.onnx', { externalData: true });
 */
export function generateModel(options: GenerateModelOptions): GeneratedModel {
  const seed = options.seed ?? 1;
  switch (options.kind) {
    case 'matmul-chain': {
      const { d, layers } = matmulChainShape(options.sizeBytes, options.layers);
      return { model: matmulChainModel({ d, layers, seed, layerSeeds: options.layerSeeds }), shape: { d, layers } };
    }
    case 'transformer-block': {
      const { d, heads } = transformerBlockShape(options.sizeBytes, options.heads);
      return { model: transformerBlockModel({ d, heads, seed }), shape: { d, heads } };
    }
    default:
      throw new TypeError(`unknown model kind ${String(options.kind satisfies never)}`);
  }
}

/**
 * Generates and writes a model; returns the files written (graph first).
 *
 * @example
 * await generateModelFile({ kind: 'transformer-block', sizeBytes: 2 << 20 }, 'block.onnx', { externalData: true });
 */
export async function generateModelFile(
  options: GenerateModelOptions,
  path: string,
  write: { externalData?: boolean; maxFileSize?: number } = {},
): Promise<{ files: string[]; shape: GeneratedModel['shape'] }> {
  const { model, shape } = generateModel(options);
  const files = await writeModel(model, path, write);
  return { files, shape };
}
