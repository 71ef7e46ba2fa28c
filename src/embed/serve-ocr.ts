/**
 * Joins this tab to the coordinator as a session that serves OCR, only when
 * the user asked for it (a switch or a button). Requests arrive as tensors:
 * `image`, uint8 [1, n], the PNG/JPEG bytes; the answer is `result`, uint8
 * [1, m], the UTF-8 JSON of `{ text, lines }` (tensors carry no strings).
 */
import { connectSession, type SessionClient, type SessionClientEvent } from '../transport/session-client.ts';
import { TesseraError } from '../errors.ts';
import type { TensorMap } from '../protocol/tensor.ts';
import type { SharedOcr } from './shared-ocr.ts';
import type { PackManifest } from '../pack/manifest.ts';

export interface ServeOcrOptions {
  /** The Worker's base URL (http(s)); the session socket is `/v1/sessions` there. */
  host: string;
  token: string;
  manifest: PackManifest;
  device: string;
  ocr: Pick<SharedOcr, 'recognize'>;
  onEvent?: (event: SessionClientEvent) => void;
  /** Called after each request this tab answered for the coordinator. */
  onServed?: () => void;
}

/**
 * @example
 * const session = serveOcr({ host: location.origin, token, manifest, device: 'wasm', ocr });
 * await session.joined();
 */
export function serveOcr(options: ServeOcrOptions): SessionClient {
  return connectSession({
    url: options.host,
    token: options.token,
    models: [{ name: options.manifest.name, revision: options.manifest.revision, maxBatch: 1 }],
    device: options.device,
    capacity: { maxInFlight: 1, requestsPerSecond: 1 },
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    runModel: async (_model, inputs: TensorMap, signal) => {
      const image = inputs.image;
      if (!image || image.type !== 'uint8') throw new TesseraError('bad-request', 'OCR requests need an `image` input: uint8 [1, n] PNG or JPEG bytes');
      const result = await options.ocr.recognize(image.data as Uint8Array, { signal });
      options.onServed?.();
      const json = new TextEncoder().encode(JSON.stringify({ text: result.text, lines: result.lines }));
      return { result: { type: 'uint8', dims: [1, json.length], data: json } };
    },
  });
}
