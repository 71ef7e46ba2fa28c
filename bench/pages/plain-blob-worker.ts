/**
 * The warm-load peer of `npm run bench:load`: plain ONNX Runtime Web (its JSPI
 * build, as Tessera's streamed path uses) creating a session from the same
 * cached chunk Blobs, composed per file, in a dedicated worker as Tessera's
 * engine runs. No Tessera code runs here but the GC workaround ORT's JSPI
 * read needs (rootedBlob: without it a collection during a read can leave
 * the creation hanging, as Tessera's own loads did), so its renderer peak is
 * ORT's own floor for these weights: what Tessera's warm peak is compared with.
 */
import * as ort from 'onnxruntime-web/jspi';
import { prepackOptions } from '../../src/backend/prepack-options.ts';
import { rootedBlob } from '../../src/backend/rooted-blob.ts';

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

interface Request {
  graph: Uint8Array;
  externalData: Array<{ path: string; data: Blob }>;
  prepack: boolean;
  device: 'wasm' | 'webgpu';
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const { graph, externalData, prepack, device } = event.data;
  const reading = new Set<unknown>();
  try {
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: [device],
      externalData: externalData.map(({ path, data }) => ({ path, data: rootedBlob(data, reading) as unknown as Uint8Array })),
      graphOptimizationLevel: 'all',
      ...prepackOptions(prepack),
    });
    const createMs = performance.now() - t0;
    await session.release();
    self.postMessage({ ok: true, createMs });
  } catch (error) {
    self.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  } finally {
    reading.clear();
  }
};
