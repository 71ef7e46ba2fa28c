/**
 * The "let the coordinator load models for me, up to N MB" consent beside
 * the app's "Serve requests" switch: off by default, remembered in
 * localStorage, and separate from serving (lending the tab to answer
 * requests for the model it has is one thing; letting the coordinator fill
 * its storage and GPU with other models is another). With consent, a
 * serving tab also holds a standby socket (src/transport/standby-client.ts)
 * offering the catalogue's OCR models (what this app can serve); an asked
 * model is loaded through the normal loader and served like the switch's
 * own model, marked prewarmed, until the coordinator unloads it.
 */
import { defaultCache } from '../cache/default-cache.ts';
import { createEngine } from '../transport/create-engine.ts';
import { loadOcrPipeline } from '../embed/ocr-pipeline.ts';
import { serveOcr } from '../embed/serve-ocr.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import { connectStandby, type StandbyClient, type StandbyClientEvent } from '../transport/standby-client.ts';
import { byId } from './dom.ts';

const STORAGE_KEY = 'tessera.prewarm';
const DEFAULT_BUDGET_MB = 256;

export interface PrewarmConsent {
  allowed: boolean;
  budgetMb: number;
}

/**
 * The remembered consent (default: not allowed, 256 MB).
 *
 * @example
 * readPrewarmConsent(localStorage); // { allowed: false, budgetMb: 256 }
 */
export function readPrewarmConsent(storage: Pick<Storage, 'getItem'>): PrewarmConsent {
  try {
    const saved = JSON.parse(storage.getItem(STORAGE_KEY) ?? 'null') as Partial<PrewarmConsent> | null;
    const budgetMb = Number(saved?.budgetMb);
    return { allowed: saved?.allowed === true, budgetMb: Number.isFinite(budgetMb) && budgetMb >= 1 ? Math.floor(budgetMb) : DEFAULT_BUDGET_MB };
  } catch {
    return { allowed: false, budgetMb: DEFAULT_BUDGET_MB };
  }
}

/**
 * Wires the consent checkbox and budget field (remembered) and starts the
 * standby socket of a serving tab when consent is given.
 *
 * @example
 * const prewarm = prewarmConsent();
 * const standby = await prewarm.start({ token, serving: ['ppocr-v4'] }); // undefined without consent
 */
export function prewarmConsent(): { start(options: { token: string; serving: string[] }): Promise<StandbyClient | undefined> } {
  const box = byId<HTMLInputElement>('prewarm-consent');
  const budget = byId<HTMLInputElement>('prewarm-budget');
  const status = byId('prewarm-status');
  const saved = readPrewarmConsent(localStorage);
  box.checked = saved.allowed;
  budget.value = String(saved.budgetMb);
  const save = (): void => {
    const current = readPrewarmConsent({ getItem: () => JSON.stringify({ allowed: box.checked, budgetMb: Number(budget.value) }) });
    localStorage.setItem(STORAGE_KEY, JSON.stringify(current));
    status.textContent = current.allowed ? `The coordinator may load up to ${current.budgetMb} MB of models here while serving (applies the next time serving starts).` : 'The coordinator loads nothing here on its own.';
  };
  box.addEventListener('change', save);
  budget.addEventListener('change', save);

  return {
    async start({ token, serving }) {
      const consent = readPrewarmConsent(localStorage);
      if (!consent.allowed) return undefined;
      // Only what this app can serve: the catalogue's OCR models it does not serve already.
      const models = (await ocrModels()).filter((m) => !serving.includes(m));
      if (models.length === 0) {
        status.textContent = 'No other OCR model in the catalogue to load on request.';
        return undefined;
      }
      const device = byId<HTMLSelectElement>('device-select').value as DeviceRequest;
      status.textContent = `Offering to load models on request (up to ${consent.budgetMb} MB)…`;
      const said = (e: StandbyClientEvent): void => {
        const line = statusLine(e);
        if (line) status.textContent = line;
      };
      return connectStandby({
        url: location.origin, token, device, budgetBytes: consent.budgetMb * 1_000_000, serving, models,
        load: async ({ model, revision, onProgress, signal }) => {
          const cache = await defaultCache();
          // Its own engine (worker): disposing of the prewarmed model ends it without touching the switch's model.
          const engine = await createEngine();
          try {
            const pipeline = await loadOcrPipeline({
              manifestUrl: new URL(`/models/${encodeURIComponent(model)}/${encodeURIComponent(revision)}/manifest.json`, location.href).href,
              cache, device, engine, signal, onProgress: (p) => onProgress(p.bytesDone, p.bytesTotal),
            });
            let served = 0;
            const session = serveOcr({
              host: location.origin, token, manifest: pipeline.manifest, device: pipeline.device, prewarmed: true,
              onServed: () => {
                served += 1;
                status.textContent = `Serving ${model} on request: ${served} request${served === 1 ? '' : 's'} served.`;
              },
              ocr: { recognize: async (image, o) => ({ ...(await pipeline.recognize(image, o)), device: pipeline.device, deviceReason: pipeline.deviceReason, servedBy: 'prewarmed' }) },
            });
            await session.joined();
            return {
              close: async () => {
                await session.close();
                await pipeline.dispose();
                await engine.dispose();
              },
            };
          } catch (err) {
            await engine.dispose();
            throw err;
          }
        },
        onEvent: said,
      });
    },
  };
}

/** The catalogue's OCR models (what this app serves), fetched when the standby starts. */
async function ocrModels(): Promise<string[]> {
  const response = await fetch('/models', { headers: { Accept: 'application/json' } }).catch(() => undefined);
  if (!response?.ok) return [];
  const body = (await response.json()) as { models: { name: string; kind?: string }[] };
  return body.models.filter((m) => m.kind === 'ocr').map((m) => m.name);
}

function statusLine(e: StandbyClientEvent): string | undefined {
  switch (e.type) {
    case 'standing-by':
      return 'Offering to load models on request.';
    case 'prewarm':
      return `The coordinator asked this tab to load ${e.model} (${Math.round(e.bytes / 1e6)} MB)…`;
    case 'ready':
      return `Loaded ${e.model} on request (${(e.loadMs / 1000).toFixed(1)} s); serving it too.`;
    case 'failed':
      return `Could not load ${e.model} on request: ${e.error.message}`;
    case 'declined':
      return `Declined ${e.model}: ${e.reason}`;
    case 'unloaded':
      return `Unloaded ${e.model} (${e.reason}).`;
    case 'disconnected':
      return e.retryInMs === undefined ? 'The coordinator refused the offer (join token?).' : 'Standby connection lost; reconnecting.';
    case 'protocol-error':
      return undefined;
    default: {
      const never: never = e;
      return String(never);
    }
  }
}
