/**
 * Joins this tab to the coordinator as a session that serves OCR, only when
 * the user asked for it (a switch or a button). Requests and answers are
 * tensors as src/protocol/ocr-tensors.ts lays them out (image bytes in, JSON out).
 */
import { connectSession, type SessionClient, type SessionClientEvent } from '../transport/session-client.ts';
import { OCR_INPUT_SPECS, OCR_OUTPUT, OCR_OUTPUT_SPECS, ocrImageOf, ocrResultTensor } from '../protocol/ocr-tensors.ts';
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
  /** Join marked prewarmed: the coordinator asked this tab to load the model (src/app/prewarm-consent.ts). */
  prewarmed?: boolean;
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
    models: [{ name: options.manifest.name, revision: options.manifest.revision, maxBatch: 1, inputs: OCR_INPUT_SPECS, outputs: OCR_OUTPUT_SPECS, pipeline: 'ocr' }],
    device: options.device,
    capacity: { maxInFlight: 1, requestsPerSecond: 1 },
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.prewarmed ? { prewarmed: true } : {}),
    runModel: async (_model, inputs: TensorMap, signal) => {
      const result = await options.ocr.recognize(ocrImageOf(inputs), { signal });
      options.onServed?.();
      return { [OCR_OUTPUT]: ocrResultTensor({ text: result.text, lines: result.lines }) };
    },
  });
}
