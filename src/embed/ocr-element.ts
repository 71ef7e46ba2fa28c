/**
 * `<tessera-ocr>`: drop, paste or choose an image, get its text. The model
 * loads from the host that served the embed script, on the first image.
 * `device="wasm|webgpu|auto"` picks the device (default auto).
 * With `data-serve="<join token>"` it shows a button that joins this tab to
 * the coordinator as a session; nothing joins until that button is pressed.
 *
 * Events: `tessera-result` (detail: the result), `tessera-error` (detail: the error).
 */
import { TesseraError, toErrorData } from '../errors.ts';
import { boxesSvg } from './boxes-svg.ts';
import type { SharedOcr, SharedOcrResult } from './shared-ocr.ts';
import type { OcrPipeline } from './ocr-pipeline.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import { acceptImageFiles } from './accept-image-files.ts';

/** What the element needs from the embed script (injected so it holds no globals). */
export interface OcrElementContext {
  host: string;
  ocr(model: string, options?: { device?: DeviceRequest }): SharedOcr;
  serve(options: { token: string; pipeline: OcrPipeline; ocr: SharedOcr; onServed: () => void }): { close(): Promise<void> };
}

const STYLE = `
:host { display: block; font: 15px/1.5 system-ui, sans-serif; color: #1b1f24; max-width: 48rem; }
.zone { display: grid; place-items: center; gap: .25rem; border: 2px dashed #8a94a6; border-radius: 12px; padding: 1.25rem; background: #f6f8fb; text-align: center; cursor: pointer; }
.zone.over, .zone:focus-within { border-color: #2457d6; background: #eef3ff; }
.zone input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.pick { color: #1d4ed8; text-decoration: underline; font-weight: 600; }
.status { min-height: 1.5em; margin: .5rem 0; color: #3b4453; }
.status.error { color: #b42318; }
.result { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; align-items: start; }
figure { position: relative; margin: 0; width: fit-content; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; border-radius: 6px; }
svg.boxes { position: absolute; inset: 0; width: 100%; height: 100%; }
svg.boxes polygon { fill: rgba(36, 87, 214, .12); stroke: #2457d6; stroke-width: 2; }
pre { margin: 0; white-space: pre-wrap; background: #fff; border: 1px solid #d5dae3; border-radius: 6px; padding: .75rem; min-height: 3em; }
button { font: inherit; padding: .4rem .9rem; border-radius: 8px; border: 1px solid #2457d6; background: #2457d6; color: #fff; cursor: pointer; }
button[aria-pressed="true"] { background: #fff; color: #2457d6; }
`;

/**
 * @example
 * customElements.define('tessera-ocr', createOcrElement({ host, ocr, serve }));
 * // <tessera-ocr model="ppocr-v4"></tessera-ocr>
 */
export function createOcrElement(context: OcrElementContext): CustomElementConstructor {
  return class TesseraOcrElement extends HTMLElement {
    #shadow = this.attachShadow({ mode: 'open' });
    #ocr: SharedOcr | undefined;
    #session: { close(): Promise<void> } | undefined;
    #served = 0;

    connectedCallback(): void {
      if (this.#shadow.childElementCount > 0) return;
      const label = this.getAttribute('label') ?? 'Image to read';
      this.#shadow.innerHTML = `<style>${STYLE}</style>
        <label class="zone" part="zone"><input type="file" accept="image/png,image/jpeg" aria-label="${escapeHtml(label)}">
          <span><span class="pick">Choose an image</span>, drop one here, or paste</span><small>PNG or JPEG · read on this device</small></label>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="result" hidden><figure></figure><pre part="text" aria-label="Recognised text"></pre></div>
        ${this.dataset.serve !== undefined ? '<p><button type="button" class="serve" aria-pressed="false">Serve requests from this tab</button> <span class="served"></span></p>' : ''}`;
      const zone = this.#shadow.querySelector('.zone') as HTMLLabelElement;
      const input = this.#shadow.querySelector('input') as HTMLInputElement;
      acceptImageFiles(zone, input, (file) => void this.read(file));
      this.addEventListener('paste', (e) => {
        const file = [...(e.clipboardData?.files ?? [])][0];
        if (file) void this.read(file);
      });
      this.#shadow.querySelector('.serve')?.addEventListener('click', () => void this.#toggleServe());
    }

    disconnectedCallback(): void {
      void this.#session?.close();
      this.#session = undefined;
    }

    get model(): string {
      return this.getAttribute('model') ?? 'ppocr-v4';
    }

    #shared(): SharedOcr {
      const device = this.getAttribute('device');
      this.#ocr ??= context.ocr(this.model, device === 'wasm' || device === 'webgpu' || device === 'auto' ? { device } : {});
      return this.#ocr;
    }

    /** Reads the text in an image (a File, Blob or its bytes). */
    async read(image: Blob | Uint8Array): Promise<SharedOcrResult> {
      const bytes = image instanceof Uint8Array ? image : new Uint8Array(await image.arrayBuffer());
      const status = this.#shadow.querySelector('.status') as HTMLElement;
      status.classList.remove('error');
      status.textContent = 'Reading… (the first image also loads the model)';
      try {
        const result = await this.#shared().recognize(bytes);
        this.#show(bytes, result);
        status.textContent = `${result.lines.length} line${result.lines.length === 1 ? '' : 's'} in ${Math.round(result.totalMs)} ms on ${result.device}`;
        this.dispatchEvent(new CustomEvent('tessera-result', { detail: result, bubbles: true, composed: true }));
        return result;
      } catch (error) {
        status.classList.add('error');
        status.textContent = `Could not read the image: ${toErrorData(error).message}`;
        this.dispatchEvent(new CustomEvent('tessera-error', { detail: toErrorData(error), bubbles: true, composed: true }));
        throw error;
      }
    }

    #show(bytes: Uint8Array, result: SharedOcrResult): void {
      const box = this.#shadow.querySelector('.result') as HTMLElement;
      const figure = box.querySelector('figure') as HTMLElement;
      const img = document.createElement('img');
      img.alt = 'The image that was read';
      img.src = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
      img.onload = () => {
        figure.replaceChildren(img, boxesSvg(result.lines, img.naturalWidth, img.naturalHeight));
        URL.revokeObjectURL(img.src);
      };
      (box.querySelector('pre') as HTMLElement).textContent = result.text || '(no text found)';
      box.hidden = false;
    }

    async #toggleServe(): Promise<void> {
      const button = this.#shadow.querySelector('.serve') as HTMLButtonElement;
      const served = this.#shadow.querySelector('.served') as HTMLElement;
      if (this.#session) {
        await this.#session.close();
        this.#session = undefined;
        button.setAttribute('aria-pressed', 'false');
        served.textContent = 'Stopped serving.';
        return;
      }
      const token = this.dataset.serve ?? '';
      if (token === '') throw new TesseraError('invalid-argument', 'data-serve must hold the coordinator join token');
      button.setAttribute('aria-pressed', 'true');
      served.textContent = 'Loading the model…';
      const ocr = this.#shared();
      const pipeline = await ocr.pipeline;
      this.#session = context.serve({
        token,
        pipeline,
        ocr,
        onServed: () => {
          this.#served += 1;
          served.textContent = `Serving: ${this.#served} request${this.#served === 1 ? '' : 's'} answered.`;
        },
      });
      served.textContent = 'Serving: 0 requests answered.';
    }
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
