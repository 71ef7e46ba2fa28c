/**
 * Loads a Node-only backend module (onnxruntime-node and its session factory)
 * by a specifier bundlers do not follow. A plain `import('./ort-node.ts')` in
 * code that browser bundles also contain (the engine factory, the HF pipeline)
 * would make Vite put onnxruntime-node, a native addon, into a chunk of every
 * browser build. Node resolves the specifier at run time, relative to this
 * file; browsers never call this (callers check for Node first), and
 * test/e2e/browser-bundles.test.ts checks the built bundles.
 */
type NodeOnlyModules = {
  './node-session.ts': typeof import('./node-session.ts');
  './ort-node.ts': typeof import('./ort-node.ts');
};

/**
 * @example
 * const { detectNativeProviders } = await importNodeOnly('./ort-node.ts');
 */
export function importNodeOnly<K extends keyof NodeOnlyModules>(specifier: K): Promise<NodeOnlyModules[K]> {
  const url: string = new URL(specifier, import.meta.url).href;
  return import(/* @vite-ignore */ url) as Promise<NodeOnlyModules[K]>;
}
