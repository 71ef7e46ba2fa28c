/**
 * `tessera.pipeline(task, modelId, options)`: where a transformers.js
 * pipeline runs. In a page, in its own dedicated Web Worker (hf-worker.ts;
 * or the started `worker` given, e.g. one a page of another origin started
 * from the host's script) unless `worker: false`; in a worker, in Node and in workerd, in-process.
 * The worker client is imported on demand (Node never loads it).
 */
import { checkPipelineArgs, inProcessPipeline, type HfPipeline, type HfPipelineOptions } from '../engine/hf/pipeline.ts';
import type { WorkerLike } from '../protocol/worker-like.ts';

export type { HfPipeline, HfPipelineOptions };

/**
 * @example
 * const embed = await pipeline('feature-extraction', 'org/bert', { source: 'https://models.example', device: 'auto' });
 * const { dims, data } = await embed(['hello world'], { pooling: 'mean', normalize: true });
 */
export async function pipeline(task: string, modelId: string, options: HfPipelineOptions, worker?: WorkerLike): Promise<HfPipeline> {
  checkPipelineArgs(task, options);
  if (options.worker !== false && (isPage() || worker !== undefined)) {
    const { workerPipeline } = await import('./hf-worker-client.ts');
    return workerPipeline(task, modelId, options, worker);
  }
  return inProcessPipeline(task, modelId, options);
}

/** A window with Worker support (a worker or Node runs pipelines in-process). */
function isPage(): boolean {
  return typeof document !== 'undefined' && typeof Worker !== 'undefined';
}
