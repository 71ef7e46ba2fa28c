/** Content-Type by file extension for pack files; anything unknown is bytes. */
const TYPES: Record<string, string> = {
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  onnx: 'application/octet-stream',
  model: 'application/octet-stream',
  // WebAssembly.instantiateStreaming refuses any other type (the web runtime pack).
  wasm: 'application/wasm',
};

/**
 * @example
 * contentTypeOf('tokenizer.json'); // 'application/json'
 */
export function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  const ext = dot < 0 ? '' : path.slice(dot + 1).toLowerCase();
  return TYPES[ext] ?? 'application/octet-stream';
}
