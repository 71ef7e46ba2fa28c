/**
 * Entry of the Node engine worker (a worker_threads Worker spawned by
 * src/transport/node-engine-worker-client.ts): the same engine server as the
 * browser's engine worker, on the MessagePort handed over in workerData, with
 * Node's sessions (onnxruntime-node, or onnxruntime-web's wasm when asked).
 * Like engine-worker.ts this file does its work when it loads: serving the
 * engine is the only reason it is ever loaded.
 */
import { workerData } from 'node:worker_threads';
import { nodeSessionFactory } from '../backend/node-session.ts';
import { createInProcessEngine } from './in-process-engine.ts';
import { serveEngine } from './serve-engine.ts';
import type { PortLike } from './serve-requests.ts';

const { port, threads } = workerData as { port: PortLike; threads?: number };
serveEngine(createInProcessEngine({ createSession: nodeSessionFactory(threads === undefined ? {} : { threads }) }), port);
