/**
 * OCR shared by every tab of this origin that uses the same model: the
 * leading tab loads the pipeline, the others send it their images over a
 * BroadcastChannel (src/transport/tab-share.ts).
 */
import type { OcrResult } from '../engine/ocr/types.ts';
import type { Device } from '../protocol/device.ts';
import { shareAcrossTabs, type TabRole } from '../transport/tab-share.ts';
import { loadOcrPipeline, type LoadOcrOptions, type OcrPipeline } from './ocr-pipeline.ts';

export interface SharedOcrResult extends OcrResult {
  totalMs: number;
  device: Device;
  deviceReason: string;
  /** The tab that ran it. */
  servedBy: string;
}

export interface SharedOcr {
  readonly tabId: string;
  readonly role: TabRole;
  /** Resolves with the pipeline once this tab leads and has loaded it; never resolves in a tab that only follows. */
  readonly pipeline: Promise<OcrPipeline>;
  recognize(image: Uint8Array, options?: { signal?: AbortSignal }): Promise<SharedOcrResult>;
  close(): void;
}

export interface SharedOcrOptions extends LoadOcrOptions {
  onRoleChange?: (role: TabRole, leaderId: string | undefined) => void;
  onServed?: (request: { id: string; from: string }) => void;
}

/**
 * @example
 * const ocr = createSharedOcr({ manifestUrl, cache: await defaultCache() });
 * const { text, servedBy } = await ocr.recognize(pngBytes);
 */
export function createSharedOcr(options: SharedOcrOptions): SharedOcr {
  let loaded!: (pipeline: OcrPipeline) => void;
  let failed!: (error: unknown) => void;
  const pipeline = new Promise<OcrPipeline>((resolve, reject) => {
    loaded = resolve;
    failed = reject;
  });
  pipeline.catch(() => {});
  const model = new URL(options.manifestUrl).pathname;
  const share = shareAcrossTabs<Uint8Array, Omit<SharedOcrResult, 'servedBy'>>({
    name: `tessera:${model}`,
    lead: async () => {
      try {
        const ocr = await loadOcrPipeline(options);
        loaded(ocr);
        return async (bytes) => ({ ...(await ocr.recognize(bytes)), device: ocr.device, deviceReason: ocr.deviceReason });
      } catch (error) {
        failed(error);
        throw error;
      }
    },
    ...(options.onRoleChange ? { onRoleChange: options.onRoleChange } : {}),
    ...(options.onServed ? { onServed: options.onServed } : {}),
  });
  return {
    get tabId() {
      return share.tabId;
    },
    get role() {
      return share.role;
    },
    pipeline,
    async recognize(image, callOptions = {}) {
      const { result, servedBy } = await share.request(image, callOptions);
      return { ...result, servedBy };
    },
    close: () => share.close(),
  };
}
