/**
 * The embed script's entry (built to `dist/embed.js`): sets `window.tessera`
 * (the whole runtime: raw models, pipelines, OCR, text generation) and
 * defines `<tessera-ocr>` and `<tessera-chat>`. The host is where this script was served from,
 * so a page on any origin loads models from the same Worker.
 */
import { defaultCache } from '../cache/default-cache.ts';
import { createChatElement } from './chat-element.ts';
import { createOcrElement } from './ocr-element.ts';
import { createTesseraApi, type TesseraApi } from './tessera-api.ts';
import { serveOcr } from './serve-ocr.ts';

declare global {
  interface Window {
    tessera: TesseraApi;
  }
}

/**
 * Installs the API and the elements once (a page may include the script twice).
 *
 * @example
 * // The script's folder, cut by hand: Vite rewrites `new URL('./', import.meta.url)` into an asset.
install(import.meta.url.slice(0, import.meta.url.lastIndexOf('/') + 1));
 */
export function install(host: string): TesseraApi {
  if (window.tessera) return window.tessera;
  const api = createTesseraApi({ host, cache: () => defaultCache() });
  window.tessera = api;
  if (!customElements.get('tessera-ocr')) {
    customElements.define(
      'tessera-ocr',
      createOcrElement({
        host,
        ocr: (model, options) => api.ocr(model, options),
        serve: ({ token, pipeline, ocr, onServed }) =>
          serveOcr({ host, token, manifest: pipeline.manifest, device: pipeline.device, ocr, onServed }),
      }),
    );
  }
  if (!customElements.get('tessera-chat')) {
    customElements.define('tessera-chat', createChatElement({ generator: (model, options) => api.generator(model, options) }));
  }
  return api;
}

// The script's folder, cut by hand: Vite rewrites `new URL('./', import.meta.url)` into an asset.
install(import.meta.url.slice(0, import.meta.url.lastIndexOf('/') + 1));
