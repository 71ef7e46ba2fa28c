/**
 * Entry of the Node engine process (a child process forked by
 * node-engine-process-client.ts): the same engine server as the
 * browser's engine worker, over the IPC channel, with Node's sessions
 * (onnxruntime-node, or onnxruntime-web's wasm when asked). A process rather
 * than a worker_threads Worker because a stuck run must be ended from outside:
 * terminating a Worker while onnxruntime-node computes aborts the whole
 * process (its async run calls back into the torn-down thread and throws a
 * Napi::Error, so std::terminate), while killing a child process is always
 * safe. Like engine-worker.ts this file does its work when it loads.
 */
import { nodeSessionFactory } from '../backend/node-session.ts';
import { createInProcessEngine } from '../engine/in-process-engine.ts';
import { serveEngine } from './serve-engine.ts';
import type { PortLike } from './rpc-server.ts';

const listeners = new Set<(event: MessageEvent) => void>();
process.on('message', (data) => {
  for (const listener of listeners) listener({ data } as MessageEvent);
});
// The parent going away (killed, crashed) ends the IPC channel: end with it rather than compute for nobody.
process.on('disconnect', () => process.exit(0));
const port: PortLike = {
  // IPC with 'advanced' serialization is structured clone: typed arrays cross as copies, transfer lists do not apply.
  postMessage: (message) => void process.send?.(message),
  addEventListener: (_type, listener) => void listeners.add(listener),
  removeEventListener: (_type, listener) => void listeners.delete(listener),
};
const threads = Number(process.env.TESSERA_ENGINE_THREADS);
serveEngine(createInProcessEngine({ createSession: nodeSessionFactory(Number.isSafeInteger(threads) && threads > 0 ? { threads } : {}) }), port);
