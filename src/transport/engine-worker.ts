/**
 * Entry of the engine's dedicated Web Worker (spawned by
 * worker-client.ts; Vite bundles it from the
 * `new Worker(new URL(...), { type: 'module' })` there). Unlike library
 * modules this file does its work when it loads: serving the engine is the
 * only reason it is ever loaded.
 */
import { createInProcessEngine } from '../engine/in-process-engine.ts';
import { serveEngine } from './serve-engine.ts';
import type { PortLike } from './rpc-server.ts';

serveEngine(createInProcessEngine(), globalThis as unknown as PortLike);
