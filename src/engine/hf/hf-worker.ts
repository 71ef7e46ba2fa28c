/**
 * Entry of the dedicated Web Worker that runs transformers.js pipelines
 * (spawned by hf-worker-client.ts; Vite bundles it from the
 * `new Worker(new URL(...), { type: 'module' })` there). Like the engine
 * worker's entry, it does its work when it loads: serving is its only use.
 */
import type { PortLike } from '../serve-requests.ts';
import { pipeline } from './pipeline.ts';
import { serveHfPipelines } from './serve-hf-pipelines.ts';

serveHfPipelines(pipeline, globalThis as unknown as PortLike);
