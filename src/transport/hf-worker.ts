/**
 * Entry of the dedicated Web Worker that runs transformers.js pipelines
 * (spawned by hf-worker-client.ts; Vite bundles it from the
 * `new Worker(new URL(...), { type: 'module' })` there). Like the engine
 * worker's entry, it does its work when it loads: serving is its only use.
 */
import type { PortLike } from './rpc-server.ts';
import { inProcessPipeline } from '../engine/hf/pipeline.ts';
import { serveHfPipelines } from './serve-hf-pipelines.ts';

serveHfPipelines(inProcessPipeline, globalThis as unknown as PortLike);
