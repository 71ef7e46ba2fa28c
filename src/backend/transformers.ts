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
 *
 * Streamed weights (browsers with JSPI): transformers.js takes the ORT it is
 * given as `globalThis[Symbol.for('onnxruntime')]` when it is first imported,
 * so Tessera gives it onnxruntime-web's JSPI build (the same 1.31 build
 * transformers.js bundles, with its own wasm) behind one seam: its
 * `InferenceSession.create`. The router answers the graph with its inline
 * weights split off (src/pack/split-inline-weights.ts: a few KiB of nodes
 * whose initializers point into the file), and `create` adds the file itself
 * (a Blob of the cached chunks) as that graph's external data, which the JSPI
 * build reads initializer by initializer instead of as one copy. Measured on
 * the 289 MiB bench:hf encoder (`--probe split`): read + create 0.06 + 1.0-1.7 s
 * against 0.3-0.5 + 2.2-2.6 s for the whole file as bytes on transformers.js's
 * default build.
 */
import { TesseraError } from '../errors.ts';
import type { WeightPath } from '../protocol/device.ts';
import type { WeightsChoice } from './choose-weights.ts';
import type { HfDevice } from '../protocol/hf-worker-messages.ts';
import { prepackOptions } from './prepack-options.ts';
import { splitLocation } from '../pack/split-inline-weights.ts';
import { rootedBlob } from './rooted-blob.ts';

/** A graph split from its inline weights (split-inline-weights.ts), and the file they stay in, under the name the graph gives it. */
export interface SplitWeights {
  graph: Uint8Array;
  externalData: { path: string; data: Blob | Uint8Array };
  /** Initializers that point into the file, and their bytes. */
  tensors: number;
  bytes: number;
}

/** Files of one model, by path relative to the model root (`config.json`, `onnx/model.onnx`). */
export interface HfFileProvider {
  /** The file's bytes, or undefined when the model has no such file. */
  open(path: string): Promise<Uint8Array | undefined>;
  /**
   * The graph at `path` with its inline weights left in the file, which
   * comes along as `externalData` under the name the graph gives it
   * (`location`); undefined when nothing in it is worth moving.
   */
  openSplit?(path: string, location: string): Promise<SplitWeights | undefined>;
  /** A file as it is held: a Blob of its cached chunks where it can be, else its bytes. */
  openData?(path: string): Promise<Blob | Uint8Array | undefined>;
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
  /** Browsers: where ORT's `.wasm`/`.mjs` live (transformers.js would otherwise ask a CDN). They name one build's files, so giving them keeps the copying path. */
  wasmPaths?: string | { wasm: string; mjs: string };
  /** The graph transformers.js will ask for (`onnx/model.onnx`), whose weights may stream. */
  graph?: string;
  /**
   * How the weights may reach ORT, and why (chooseWeights, with the caller's
   * own reasons to copy). Streamed: the graph has its inline weights split
   * off where it has any. Default: copied.
   */
  weights?: WeightsChoice;
}

/** A loaded pipeline: call it as transformers.js's, then dispose it. */
export interface TransformersPipeline {
  (input: string | string[], options?: Record<string, unknown>): Promise<TransformersOutput>;
  /** Tokens each text takes (special tokens included), for usage accounting. */
  countTokens(texts: string[]): Promise<number[]>;
  /** How the graph's weights reached ORT, and why (as raw sessions report it). */
  readonly weights: WeightPath;
  readonly weightsReason: string;
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

/** What `InferenceSession.create` needs of onnxruntime-web. */
interface OrtWeb {
  env: { wasm: unknown };
  InferenceSession: { create(model: unknown, ...rest: unknown[]): Promise<unknown> };
}

/** One pipeline's files, and the graph the router answered with when its weights stream. */
interface Registered {
  provider: HfFileProvider;
  graph?: string;
  /** Whether this pipeline's weights may stream (the realm runs the JSPI build, and it was not asked to copy). */
  stream: boolean;
  /** External data files the pack's graph declares: name in the graph, model-relative path. */
  declared: Array<{ path: string; file: string }>;
  streamed?: StreamedGraph;
}

/** A graph as the router answered it, and the files `create` mounts beside it. */
interface StreamedGraph {
  graph: Uint8Array;
  externalData: Array<{ path: string; data: Blob | Uint8Array }>;
  /** Initializers split off the graph's own file, and their bytes (0 for a pack's already external graph). */
  tensors: number;
  bytes: number;
  /** Set by `create` once ORT was given these. */
  used: boolean;
}

interface Installed {
  tf: Transformers;
  /** The ORT transformers.js runs on. */
  ort: OrtWeb | undefined;
  /** Why this realm's pipelines copy their graphs, when they must. */
  copiedWhy: string | undefined;
}

const ORT_SYMBOL = Symbol.for('onnxruntime');
let installed: Promise<Installed> | undefined;
const pipelines = new Map<number, Registered>();
let nextId = 1;

async function install(options: TransformersPipelineOptions): Promise<Installed> {
  // transformers.js picks its ORT once, when it is first imported in this realm: the first pipeline decides.
  let streaming: OrtWeb | undefined;
  let copiedWhy: string | undefined;
  const choice = options.weights;
  if (isNode() || !choice || choice.weights === 'copied') copiedWhy = choice?.reason ?? 'copied: transformers.js takes the graph as bytes here';
  else if (ORT_SYMBOL in globalThis) copiedWhy = 'copied: this page gave transformers.js its own ORT (globalThis[Symbol.for("onnxruntime")])';
  else {
    const jspi = (await import('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort.jspi.bundle.min.mjs' as string)) as OrtWeb;
    streaming = streamingOrt(jspi);
    (globalThis as Record<symbol, unknown>)[ORT_SYMBOL] = streaming;
  }
  const tf = await import('@huggingface/transformers');
  const { env } = tf;
  // `env.backends.onnx` is a shallow copy of ORT's env, so `.wasm` is ORT's own object.
  const wasm = env.backends.onnx.wasm as { wasmPaths?: unknown } | undefined;
  if (streaming && wasm !== streaming.env.wasm) {
    streaming = undefined;
    copiedWhy = 'copied: transformers.js was imported in this realm before Tessera could give it the JSPI build';
  }
  const fallbackFetch = env.fetch as (input: string | URL, init?: RequestInit) => Promise<Response>;
  // What transformers.js would have used for keys that are not ours: the browser Cache API when it has one.
  const useBrowserCache = env.useBrowserCache && typeof caches !== 'undefined';
  let fallback: Promise<CacheLike | undefined> | undefined;
  const fallbackCache = () => (fallback ??= useBrowserCache ? caches.open(env.cacheKey).catch(() => undefined) : Promise.resolve(undefined));
  const serve = async (key: string): Promise<Response | undefined | null> => {
    const m = KEY.exec(key);
    if (!m) return null; // not ours
    const entry = pipelines.get(Number(m[1]));
    if (!entry) throw new TesseraError('session-closed', `transformers.js asked for ${key} after its pipeline was disposed`);
    const path = decodeURIComponent(m[2] as string);
    if (entry.stream && path === entry.graph) {
      entry.streamed ??= await streamedGraph(entry, path);
      if (entry.streamed) return bytesResponse(entry.streamed.graph);
    }
    const bytes = await entry.provider.open(path);
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
  // transformers.js would read ORT's wasm (12 MB) out of the Cache API before
  // every first session, 0.3-0.6 s measured in a fresh worker, after Tessera
  // has already started ORT on it (warmOrt); ORT fetches it by URL itself, from
  // the HTTP cache or the app's service worker.
  (env as { useWasmCache?: boolean }).useWasmCache = false;
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  if (wasm && options.wasmPaths !== undefined) wasm.wasmPaths = options.wasmPaths;
  else if (wasm && !isNode()) {
    // Its default is a CDN; serve the wasm from this app's origin instead.
    const { transformersWasmPaths } = await import('./transformers-wasm-paths.ts');
    wasm.wasmPaths = transformersWasmPaths(streaming ? 'jspi' : 'asyncify');
  }
  return { tf, ort: streaming, copiedWhy };
}

/**
 * The graph the router answers for a streaming pipeline: split from its
 * inline weights when it has any (its own file then comes along as external
 * data), and beside it the external data files a pack declares, each as the
 * Blob of its cached chunks. Undefined when nothing would stream: the graph
 * then goes to ORT whole, and a graph the splitter cannot read goes whole
 * too (ORT then says what is wrong with it).
 */
async function streamedGraph(entry: Registered, path: string): Promise<StreamedGraph | undefined> {
  const { provider } = entry;
  if (!provider.openData) return undefined;
  const split = provider.openSplit ? await provider.openSplit(path, splitLocation(path)).catch(() => undefined) : undefined;
  const declared = await Promise.all(entry.declared.map(async (d) => ({ path: d.path, data: await provider.openData?.(d.file) })));
  if (declared.some((d) => d.data === undefined)) return undefined; // missing: transformers.js's own path says so
  if (!split && declared.length === 0) return undefined;
  const graph = split?.graph ?? (await provider.open(path));
  if (!graph) return undefined;
  return {
    graph,
    externalData: [...(split ? [split.externalData] : []), ...(declared as Array<{ path: string; data: Blob | Uint8Array }>)],
    tensors: split?.tensors ?? 0,
    bytes: split?.bytes ?? 0,
    used: false,
  };
}

/**
 * The JSPI build with one seam: `create` on a graph the router answered for
 * a streaming pipeline mounts that graph's files (Blobs) as its external
 * data. transformers.js hands `create` the buffer the router's Response
 * answered, so the graph is found by that buffer, or (should a future
 * version copy it) by equal bytes. Creations run one at a time: ORT's JSPI
 * build keeps mounted files per module, and a creation that ends unmounts
 * them all, so one settling (the head start's empty graph) while another
 * reads its initializers would take that one's files away.
 */
function streamingOrt(ort: OrtWeb): OrtWeb {
  let queue: Promise<unknown> = Promise.resolve();
  const createNow = async (model: unknown, rest: unknown[]): Promise<unknown> => {
    const found = model instanceof Uint8Array && rest.length <= 1 ? findStreamed(model) : undefined;
    if (!found) return ort.InferenceSession.create(model, ...rest);
    const options = (rest[0] ?? {}) as { externalData?: unknown[] };
    const reading = new Set<unknown>();
    try {
      const session = await ort.InferenceSession.create(model, {
        ...options,
        externalData: [...(options.externalData ?? []), ...found.externalData.map(({ path, data }) => ({ path, data: data instanceof Blob ? rootedBlob(data, reading) : data }))],
      });
      found.used = true;
      return session;
    } finally {
      reading.clear(); // the creation settled: ORT reads no more
    }
  };
  const create = (model: unknown, ...rest: unknown[]): Promise<unknown> => {
    const run = queue.then(() => createNow(model, rest));
    queue = run.catch(() => {});
    return run;
  };
  const InferenceSession = Object.assign(Object.create(ort.InferenceSession as object) as object, { create });
  return { ...ort, InferenceSession } as OrtWeb;
}

function findStreamed(model: Uint8Array): StreamedGraph | undefined {
  for (const { streamed } of pipelines.values()) {
    if (!streamed || streamed.graph.byteLength !== model.byteLength) continue;
    if (streamed.graph.buffer === model.buffer && streamed.graph.byteOffset === model.byteOffset) return streamed;
    if (equalBytes(streamed.graph, model)) return streamed;
  }
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * @example
 * const extract = await createTransformersPipeline({ task: 'feature-extraction', files, device: 'wasm', dtype: 'fp32' });
 * const out = await extract(['hello world'], { pooling: 'mean', normalize: true }); // { dims: [1, 384], data }
 */
export async function createTransformersPipeline(options: TransformersPipelineOptions): Promise<TransformersPipeline> {
  installed ??= install(options).catch((err: unknown) => {
    installed = undefined;
    throw err;
  });
  const { tf, ort, copiedWhy } = await installed;
  const id = nextId++;
  const stream = ort !== undefined && options.weights?.weights === 'streamed' && options.graph !== undefined && options.files.openData !== undefined;
  const declared = options.externalData ?? [];
  const entry: Registered = { provider: options.files, stream, declared, ...(options.graph !== undefined ? { graph: options.graph } : {}) };
  pipelines.set(id, entry);
  const sessionOptions: Record<string, unknown> = { ...prepackOptions(options.prepack !== false) };
  if (ort) sessionOptions.executionProviders = [options.device];
  if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
  // Streaming: `create` mounts the declared files itself (as Blobs); else transformers.js reads each through the router as bytes.
  if (!stream && declared.length > 0) sessionOptions.externalData = declared.map((e) => ({ path: e.path, data: e.file }));
  let pipe: Awaited<ReturnType<Transformers['pipeline']>>;
  // ORT compiles and starts its wasm (about a second) only when transformers.js
  // creates the session, after every file is in; start it now, beside the reads.
  if (!isNode() && options.device === 'wasm') void warmOrt(tf, ort);
  try {
    pipe = await tf.pipeline(options.task as 'feature-extraction', `${PREFIX}${id}`, {
      // On a given ORT, transformers.js 4.3 knows no device (its list stays empty: transformers.js PR #1743);
      // 'auto' then takes the execution providers from session_options, which name the one chosen.
      device: ort ? 'auto' : options.device,
      dtype: options.dtype as 'fp32',
      session_options: sessionOptions,
    });
  } catch (err) {
    pipelines.delete(id);
    options.files.release?.();
    throw toTesseraError(err, `transformers.js could not load the ${options.task} pipeline`);
  }
  const { weights, weightsReason } = weightsReport(entry, options, copiedWhy);
  // ORT holds the weights in its own memory: let the files and the split go.
  delete entry.streamed;
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
    weights,
    weightsReason,
    async dispose() {
      pipelines.delete(id);
      await pipe.dispose();
    },
  });
}

function weightsReport(entry: Registered, options: TransformersPipelineOptions, copiedWhy: string | undefined): { weights: WeightPath; weightsReason: string } {
  const streamed = entry.streamed;
  if (streamed?.used) {
    const mib = (streamed.bytes / 1048576).toFixed(1);
    const files = streamed.externalData.map((e) => e.path).join(', ');
    if (streamed.externalData.some((e) => !(e.data instanceof Blob))) {
      return { weights: 'copied', weightsReason: `copied: ${entry.graph} was downloaded into memory by this load, and the JSPI build reads its ${streamed.tensors} initializers (${mib} MiB) from that one copy (a warm load streams them from the cache)` };
    }
    if (streamed.tensors > 0 && streamed.externalData.length === 1) {
      return { weights: 'streamed', weightsReason: `streamed: JSPI build reads the ${streamed.tensors} initializers (${mib} MiB) of ${entry.graph} from its cached chunk Blobs` };
    }
    return { weights: 'streamed', weightsReason: `streamed: JSPI build reads ${entry.graph}'s external data (${files}) from the chunk Blobs` };
  }
  const own = options.weights;
  if (!own || own.weights === 'copied') return { weights: 'copied', weightsReason: own?.reason ?? 'copied: transformers.js takes the graph as bytes here' };
  if (copiedWhy) return { weights: 'copied', weightsReason: `${copiedWhy} (transformers.js keeps the ORT build this realm's first pipeline started it on)` };
  return { weights: 'copied', weightsReason: `copied: ${entry.graph ?? 'the graph'} has no inline weights to split off, so transformers.js read it whole` };
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
 * instance (its nested onnxruntime-web, the module its bundle imports, or the
 * JSPI build given to it): the `env.wasm` identity check skips a different
 * copy, which warming would only load twice. A session from zero bytes
 * initializes the backend and then fails to parse; that failure is expected
 * and dropped. (A whole tiny session instead, to compile the session-building
 * code early, was tried: it took 9 ms and moved nothing.)
 */
async function warmOrt(tf: Transformers, streaming: OrtWeb | undefined): Promise<void> {
  try {
    const ort = streaming ?? ((await import('../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs' as string)) as OrtWeb);
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
