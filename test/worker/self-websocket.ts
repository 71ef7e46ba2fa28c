/**
 * A WebSocket constructor for the session client that connects to the Worker
 * under test in-process (SELF.fetch with `Upgrade: websocket`), so the real
 * client runs against the real Worker and Durable Object inside workerd.
 */
import { SELF } from 'cloudflare:test';
import type { WebSocketConstructor } from '../../src/transport/session-client.ts';

export const SelfWebSocket = class extends EventTarget {
  readyState = 0;
  binaryType = 'arraybuffer';
  #ws: WebSocket | undefined;

  constructor(url: string) {
    super();
    void SELF.fetch(url.replace(/^ws/, 'http'), { headers: { Upgrade: 'websocket' } }).then((res) => {
      const ws = res.webSocket;
      if (!ws) {
        this.#closed(1006, `upgrade refused: ${res.status}`);
        return;
      }
      ws.accept();
      this.#ws = ws;
      this.readyState = 1;
      // Binary messages reach the test as Blobs or as ArrayBuffers of another realm
      // (instanceof fails): copy each, in order (a chain, so a small frame cannot
      // overtake a large one), into an ArrayBuffer of this realm.
      let chain = Promise.resolve();
      ws.addEventListener('message', (e) => {
        const raw = e.data as string | Blob | ArrayBuffer;
        chain = chain.then(async () => {
          const data = typeof raw === 'string' ? raw : new Uint8Array(raw instanceof Blob ? await raw.arrayBuffer() : raw).slice().buffer;
          this.dispatchEvent(new MessageEvent('message', { data }));
        });
      });
      ws.addEventListener('close', (e) => void chain.then(() => this.#closed(e.code, e.reason)));
      this.dispatchEvent(new Event('open'));
    });
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.dispatchEvent(new CloseEvent('close', { code, reason }));
  }

  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    this.#ws?.send(data as ArrayBuffer);
  }

  close(code?: number, reason?: string): void {
    this.#ws?.close(code, reason);
    // workerd may not echo our own close back to us; report it either way.
    this.#closed(code ?? 1000, reason ?? '');
  }
} as unknown as WebSocketConstructor;
