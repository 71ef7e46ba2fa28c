/**
 * Node's session factory: onnxruntime-node for `auto` and the native devices,
 * onnxruntime-web's wasm (src/backend/ort.ts) for `wasm`. Same options and
 * session interface as createOrtSession, so the engine and the pipelines take
 * either. Node only: never reached from a browser bundle (create-engine.ts
 * loads it behind a runtime check; test/e2e/browser-bundles.test.ts checks).
 */
import type { OrtSession, OrtSessionOptions } from './ort.ts';

export interface NodeSessionDefaults {
  /** Intra-op threads of native CPU sessions. Default: `os.availableParallelism()`. */
  threads?: number;
}

export type CreateSession = (options: OrtSessionOptions) => Promise<OrtSession>;

/**
 * @example
 * const createSession = nodeSessionFactory({ threads: 2 });
 * const engine = createInProcessEngine({ createSession });
 * await engine.load(url, { device: 'cpu' }); // onnxruntime-node; { device: 'wasm' } runs onnxruntime-web
 */
export function nodeSessionFactory(defaults: NodeSessionDefaults = {}): CreateSession {
  return async (options) => {
    const device = options.device ?? 'auto';
    // webgpu goes to onnxruntime-web too, which says why Node has no adapter.
    if (device === 'wasm' || device === 'webgpu') {
      const { createOrtSession } = await import('./ort.ts');
      return createOrtSession(options);
    }
    const { createOrtNodeSession } = await import('./ort-node.ts');
    return createOrtNodeSession({
      graph: options.graph,
      device,
      ...(options.externalData ? { externalData: options.externalData } : {}),
      ...(options.prepack === undefined ? {} : { prepack: options.prepack }),
      ...(defaults.threads === undefined ? {} : { threads: defaults.threads }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  };
}
