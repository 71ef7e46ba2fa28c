/**
 * Tessera's public API for pages, workers and Node.
 *
 * @example
 * import { createEngine } from 'tessera';
 * const engine = await createEngine();
 * const model = await engine.load('https://models.example/mlp/manifest.json', {
 *   device: 'auto',
 *   onProgress: (p) => console.log(p.phase, p.bytesDone, p.bytesTotal, p.etaSeconds),
 * });
 * const outputs = await model.run({ x: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } });
 */
export { createEngine, type CreateEngineOptions } from './transport/create-engine.ts';
export type { Engine, ModelHandle, ModelInfo, LoadOptions, RunOptions, CacheSpec, ModelSource } from './engine/engine.ts';
export type { LoadGeneratorOptions, DecoderDtype } from './engine/engine.ts';
export type { TextGenerator, GeneratorInfo, GenerationStream, GenerateCallOptions } from './engine/generate/text-generator.ts';
export type { ChatMessage, GenerateRequest, GenerateChunk, GenerateResult, FinishReason } from './protocol/generation.ts';
export { loadPack, DEFAULT_CONCURRENCY, type LoadPackOptions, type LoadPackResult, type LoadStats } from './fetch/load-pack.ts';
export type { LoadProgress, LoadPhase, FileProgress } from './fetch/progress.ts';
export { createMemoryCache, createIdbCache, defaultCache, evictLeastRecentlyUsed } from './cache/index.ts';
export type { ModelCache, CachedModel, StorageEstimate } from './cache/model-cache.ts';
export { detectCapabilities, type Capabilities } from './env.ts';
export { TesseraError, isTesseraError, toErrorData, fromErrorData, type ErrorCode, type ErrorData } from './errors.ts';
export type { PackManifest, PackFile, PackGraph, FileRole } from './pack/manifest.ts';
export type { TensorData, TensorMap, TensorType } from './protocol/tensor.ts';
export { pipeline, type HfPipeline, type HfPipelineOptions } from './transport/hf-pipeline.ts';
