/** The range loader's public surface. */
export { loadPack, DEFAULT_CONCURRENCY, type LoadPackOptions, type LoadPackResult, type LoadStats } from './load-pack.ts';
export { fetchManifest } from './fetch-manifest.ts';
export { validateManifest } from './validate-manifest.ts';
export { planLoad, type LoadPlan, type PlannedChunk } from './plan-load.ts';
export type { LoadProgress, LoadPhase, FileProgress } from './progress.ts';
export type { RetryOptions } from './retry.ts';
