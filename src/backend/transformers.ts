/**
 * transformers.js (v4) behind Tessera's loader. The only module that imports
 * @huggingface/transformers.
 *
 * The seam: transformers.js asks its cache (`env.customCache.match(key)`)
 * for every file before it fetches it, and in Node it *needs* a cache to load
 * a remote model at all (it reads `.onnx` files back out of the cache). So
 * Tessera installs one router as `env.customCache` and wraps `env.fetch`:
 * each pipeline registers a file provider under a synthetic model id
 * (`tessera-src/s<N>`); keys and URLs under that id are answered from the
 * provider (Tessera's verified, chunk-cached bytes as a Response), and every
 * other key or URL goes to what transformers.js would have used (the browser
 * Cache API, the real fetch), so plain transformers.js in the same realm still
 * works. The router is installed on the first pipeline, never at import.
 */
import { TesseraError } from '../errors.ts';
import type { HfDevice } from '../protocol/hf-worker-messages.ts';
import { prepackOptions } from './prepack-options.ts';

/** Files of one model, by path relative to the model root (`config.json`, `onnx/model.onnx`). */
export interface HfFileProvider {
  /** The file's bytes, or undefined when the model has no such file. */
  open(path: string): Promise<Uint8Array | undefined>;
  /** Drop the bytes kept for repeated asks (called once ORT holds its own copy). */
  release?(): void;
}

export type { HfDevice };

export interface TransformersPipelineOptions {
  task: string;
  files: HfFileProvider;
  device: HfDevice;
  /** transformers.js dtype (`fp32`, `fp16`, `q8`, ...). */
  dtype: string;
  /** External data of the graph, as ORT expects it: the name in the graph and the model-relative path. */
  externalData?: Array<{ path: string; file: string }>;
  /** Node (onnxruntime-node): intra-op threads, as raw native sessions get them. */
  threads?: number;
  /** `false`: ORT skips repacking weights at session creation (faster ready, slower calls). */
  prepack?: boolean;
  /** Browsers: where ORT's `.wasm`/`.mjs` live (transformers.js would otherwise ask a CDN). */
  wasmPaths?: string | { wasm: string; mjs: string };
}

/** A loaded pipeline: call it as transformers.js's, then dispose it. */
export interface TransformersPipeline {
  (input: string | string[], options?: Record<string, unknown>): Promise<TransformersOutput>;
  /** Tokens each text takes (special tokens included), for usage accounting. */
  countTokens(texts: string[]): Promise<number[]>;
  dispose(): Promise<void>;
}

/** A transformers.js Tensor, reduced to what crosses Tessera's boundaries. */
export interface TransformersOutput {
  dims: number[];
  data: Float32Array;
}

const PREFIX = 'tessera-src/s';
const KEY = /tessera-src\/s(\d+)\/(?:resolve\/[^/]+\/)?(.+)$/;

type Transformers = typeof import('@huggingface/transformers');

interface CacheLike {
  match(key: string): Promise<unknown>;
  put(key: string, response: Response): Promise<void>;
}

let installed: Promise<Transformers> | undefined;
const providers = new Map<number, HfFileProvider>();
let nextId = 1;

async function install(wasmPaths: TransformersPipelineOptions['wasmPaths']): Promise<Transformers> {
  const tf = await import('@huggingface/transformers');
  const { env } = tf;
  const fallbackFetch = env.fetch as (input: string | URL, init?: RequestInit) => Promise<Response>;
  // What transformers.js would have used for keys that are not ours: the browser Cache API when it has one.
  const useBrowserCache = env.useBrowserCache && typeof caches !== 'undefined';
  let fallback: Promise<CacheLike | undefined> | undefined;
  const fallbackCache = () => (fallback ??= useBrowserCache ? caches.open(env.cacheKey).catch(() => undefined) : Promise.resolve(undefined));
  const serve = async (key: string): Promise<Response | undefined | null> => {
    const m = KEY.exec(key);
    if (!m) return null; // not ours
    const provider = providers.get(Number(m[1]));
    if (!provider) throw new TesseraError('session-closed', `transformers.js asked for ${key} after its pipeline was disposed`);
    const bytes = await provider.open(decodeURIComponent(m[2] as string));
    if (!bytes) return undefined;
    return bytesResponse(bytes);
  };
  const router: CacheLike = {
    async match(key) {
      const own = await serve(key);
      if (own !== null) return own;
      return (await fallbackCache())?.match(key);
    },
    async put(key, response) {
      // Our files are already in Tessera's cache, chunk by chunk.
      if (KEY.test(key)) return;
      await (await fallbackCache())?.put(key, response);
    },
  };
  env.fetch = async (input: string | URL, init?: RequestInit) => {
    const own = await serve(String(input));
    if (own === null) return fallbackFetch(input, init);
    return own ?? new Response('not in this model', { status: 404 });
  };
  env.useCustomCache = true;
  env.customCache = router as never;
  env.useBrowserCache = false; // the router falls back to it itself
  env.useFSCache = false;
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  // `env.backends.onnx` is a shallow copy of ORT's env, so `.wasm` is ORT's own object.
  const wasm = env.backends.onnx.wasm as { wasmPaths?: unknown } | undefined;
  if (wasm && wasmPaths !== undefined) wasm.wasmPaths = wasmPaths;
  else if (wasm && !isNode()) {
    // Its default is a CDN; serve the wasm from this app's origin instead.
    const { transformersWasmPaths } = await import('./transformers-wasm-paths.ts');
    wasm.wasmPaths = transformersWasmPaths();
  }
  return tf;
}

/**
 * @example
 * const extract = await createTransformersPipeline({ task: 'feature-extraction', files, device: 'wasm', dtype: 'fp32' });
 * const out = await extract(['hello world'], { pooling: 'mean', normalize: true }); // { dims: [1, 384], data }
 */
export async function createTransformersPipeline(options: TransformersPipelineOptions): Promise<TransformersPipeline> {
  installed ??= install(options.wasmPaths).catch((err: unknown) => {
    installed = undefined;
    throw err;
  });
  const tf = await installed;
  const id = nextId++;
  providers.set(id, options.files);
  const sessionOptions: Record<string, unknown> = { ...prepackOptions(options.prepack !== false) };
  if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
  if (options.externalData && options.externalData.length > 0) {
    sessionOptions.externalData = options.externalData.map((e) => ({ path: e.path, data: e.file }));
  }
  let pipe: Awaited<ReturnType<Transformers['pipeline']>>;
  // ORT compiles and starts its wasm (about a second) only when transformers.js
  // creates the session, after every file is in; start it now, beside the reads.
  if (!isNode() && options.device === 'wasm') void warmOrt(tf);
  try {
    pipe = await tf.pipeline(options.task as 'feature-extraction', `${PREFIX}${id}`, {
      device: options.device,
      dtype: options.dtype as 'fp32',
      session_options: sessionOptions,
    });
  } catch (err) {
    providers.delete(id);
    options.files.release?.();
    throw toTesseraError(err, `transformers.js could not load the ${options.task} pipeline`);
  }
  // ORT copied the graph into its own memory: let the assembled files go.
  options.files.release?.();
  const call = async (input: string | string[], callOptions: Record<string, unknown> = {}): Promise<TransformersOutput> => {
    try {
      const out = (await (pipe as unknown as (i: unknown, o: unknown) => Promise<{ dims: number[]; data: ArrayLike<number> }>)(input, callOptions));
      const data = out.data instanceof Float32Array ? out.data : Float32Array.from(out.data);
      return { dims: [...out.dims], data };
    } catch (err) {
      throw toTesseraError(err, `the ${options.task} pipeline failed`);
    }
  };
  return Object.assign(call, {
    async countTokens(texts: string[]) {
      const tokenizer = (pipe as unknown as { tokenizer?: (t: string) => { input_ids: { dims: number[] } } }).tokenizer;
      if (!tokenizer) return texts.map(() => 0);
      return texts.map((t) => tokenizer(t).input_ids.dims.at(-1) ?? 0);
    },
    async dispose() {
      providers.delete(id);
      await pipe.dispose();
    },
  });
}

/**
 * A Response over bytes Tessera already assembled. transformers.js reads a
 * cached file with `arrayBuffer()`; a `new Response(bytes)` would copy the
 * whole model into the body and then once more into that ArrayBuffer, so
 * `arrayBuffer()` here answers the assembled buffer itself, and the body
 * stream (for readers that stream) enqueues the same bytes without a copy.
 */
function bytesResponse(bytes: Uint8Array): Response {
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  const response = new Response(body, { status: 200, headers: { 'content-length': String(bytes.byteLength) } });
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const buffer = whole ? (bytes.buffer as ArrayBuffer) : undefined;
  if (buffer) Object.defineProperty(response, 'arrayBuffer', { value: async () => buffer });
  return response;
}

/**
 * Starts onnxruntime-web's wasm runtime (fetch, compile, instantiate) ahead
 * of transformers.js's first session. It must be transformers.js's own ORT
 * instance (its nested onnxruntime-web, the module its bundle imports): the
 * `env.wasm` identity check skips a different copy, which warming would only
 * load twice. A session from zero bytes initializes the backend and then
 * fails to parse; that failure is expected and dropped.
 */
async function warmOrt(tf: Transformers): Promise<void> {
  try {
    const ort = (await import('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs' as string)) as {
      env: { wasm: unknown };
      InferenceSession: { create(bytes: Uint8Array, options: object): Promise<unknown> };
    };
    if (ort.env.wasm !== tf.env.backends.onnx.wasm) return;
    await ort.InferenceSession.create(new Uint8Array(0), { executionProviders: ['wasm'] }).catch(() => undefined);
  } catch {
    // Only a head start: transformers.js initializes ORT itself regardless.
  }
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

function toTesseraError(err: unknown, what: string): TesseraError {
  if (err instanceof TesseraError) return err;
  const cause = err as { name?: unknown; code?: unknown; message?: unknown } | undefined;
  if (cause && cause.name === 'TesseraError') return err as TesseraError;
  const message = cause && typeof cause.message === 'string' ? cause.message : String(err);
  return new TesseraError('backend-error', `${what}: ${message}`, { cause: err });
}
