/**
 * `<tessera-chat model="...">`: a chat with a text-generation model that runs
 * in this tab. The model loads from the host that served the embed script on
 * the first message (the status line shows the download), and answers stream
 * in token by token with a Stop button and the speed in tokens/s.
 *
 * Attributes: `model` (required: a published name or a manifest URL),
 * `device="wasm|webgpu|auto"` (default auto), `system` (a system message),
 * `max-tokens` (new tokens per answer), `label` (the message box's name).
 * Once loaded, `data-engine` says where the model runs (`worker`, or
 * `in-process` where the page's policy refused the worker).
 * Events: `tessera-answer` (detail: `{ result, stats }`), `tessera-error`
 * (detail: the error as data).
 */
import { TesseraError, toErrorData } from '../errors.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import { CHAT_CSS, chatView, type ChatView } from './chat-view.ts';
import { chatTurn } from './chat-turn.ts';
import type { TextGenerator } from '../engine/generate/text-generator.ts';

/** What the element needs from the embed script (injected so it holds no globals). */
export interface ChatElementContext {
  /** The loaded generator for a model (one per model per page). */
  generator(model: string, options: { device?: DeviceRequest; onProgress?: (p: LoadProgress) => void }): Promise<TextGenerator & { engine?: string }>;
}

const HOST_CSS = `:host { display: block; font: 15px/1.5 system-ui, sans-serif; color: #1b1f24; max-width: 48rem; }`;

/**
 * @example
 * customElements.define('tessera-chat', createChatElement({ generator: (model, o) => api.generator(model, o) }));
 * // <tessera-chat model="tiny-llama" device="wasm"></tessera-chat>
 */
export function createChatElement(context: ChatElementContext): CustomElementConstructor {
  return class TesseraChatElement extends HTMLElement {
    #shadow = this.attachShadow({ mode: 'open' });
    #view: ChatView | undefined;

    connectedCallback(): void {
      if (this.#view) return;
      const style = document.createElement('style');
      style.textContent = HOST_CSS + CHAT_CSS;
      const view = chatView({
        label: this.getAttribute('label') ?? 'Message',
        ...(this.getAttribute('system') ? { system: this.getAttribute('system')! } : {}),
        chat: (messages, { signal }) => {
          const maxTokens = Number(this.getAttribute('max-tokens'));
          return chatTurn(() => this.#generator(), messages, { signal, ...(Number.isInteger(maxTokens) && maxTokens > 0 ? { maxNewTokens: maxTokens } : {}) });
        },
        onAnswer: (answer) => this.dispatchEvent(new CustomEvent('tessera-answer', { detail: answer, bubbles: true, composed: true })),
        onError: (error) => this.dispatchEvent(new CustomEvent('tessera-error', { detail: toErrorData(error), bubbles: true, composed: true })),
      });
      this.#shadow.replaceChildren(style, view.element);
      this.#view = view;
      view.setStatus(this.model ? `${this.model} · loads on the first message` : '');
    }

    get model(): string {
      return this.getAttribute('model') ?? '';
    }

    /** The conversation so far. */
    get messages(): readonly { role: string; content: string }[] {
      return this.#view?.messages ?? [];
    }

    /** Sends a message as if typed; resolves when the answer has ended. */
    send(text: string): Promise<void> {
      if (!this.#view) throw new TesseraError('invalid-argument', '<tessera-chat> must be in the document before send()');
      return this.#view.send(text);
    }

    /** Stops the answer being written. */
    stop(): void {
      this.#view?.stop();
    }

    async #generator(): Promise<TextGenerator> {
      const view = this.#view!;
      if (!this.model) throw new TesseraError('invalid-argument', '<tessera-chat> needs a model attribute: a published model name or its manifest.json URL');
      const device = this.getAttribute('device');
      try {
        const generator = await context.generator(this.model, {
          ...(device === 'wasm' || device === 'webgpu' || device === 'auto' ? { device } : {}),
          onProgress: (p) => view.setStatus(p.done || p.phase === 'session' ? `Starting ${this.model}…` : `Loading ${this.model}… ${Math.floor((100 * p.bytesDone) / Math.max(1, p.bytesTotal))}%`),
        });
        view.setStatus(`${this.model} on ${generator.device === 'webgpu' ? 'WebGPU' : 'WebAssembly'}`);
        // Where it decodes (`worker`, or `in-process` where the page refused the worker), for the page's own checks.
        if (generator.engine !== undefined) this.dataset.engine = generator.engine;
        return generator;
      } catch (error) {
        view.setStatus(`Could not load ${this.model}: ${toErrorData(error).message}`, 'error');
        throw error;
      }
    }
  };
}
