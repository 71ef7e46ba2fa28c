/**
 * The PWA: pick a model, watch it load, read images, manage the cache, lend
 * the tab to the coordinator. Tabs of this origin share one loaded model
 * (src/transport/tab-share.ts). `?device=wasm|webgpu|auto` presets the device.
 */
import { registerSW } from 'virtual:pwa-register';
import { defaultCache } from '../cache/default-cache.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import { detectCapabilities } from '../env.ts';
import { toErrorData } from '../errors.ts';
import { createSharedOcr, type SharedOcr } from '../embed/shared-ocr.ts';
import { serveOcr } from '../embed/serve-ocr.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import type { SessionClient } from '../transport/session-client.ts';
import { cachePanel } from './cache-panel.ts';
import { byId, el } from './dom.ts';
import { ocrPanel } from './ocr-panel.ts';
import { progressText } from './progress-text.ts';

/** Wires the page. Called once from the module's end. */
export async function main(): Promise<void> {
  registerSW({ immediate: true });
  const params = new URLSearchParams(location.search);
  const cache = await defaultCache();
  const caches = cachePanel(cache);
  void caches.refresh();
  networkBadge();
  void deviceBadge();
  await fillCatalogue(cache);

  const deviceSelect = byId<HTMLSelectElement>('device-select');
  const preset = params.get('device');
  if (preset === 'wasm' || preset === 'webgpu' || preset === 'auto') deviceSelect.value = preset;

  let shared: SharedOcr | undefined;
  let servedByTab = 0;
  const status = byId('model-status');
  const button = byId<HTMLButtonElement>('load-button');

  const load = async (): Promise<SharedOcr> => {
    if (shared) return shared;
    const model = byId<HTMLSelectElement>('model-select').value;
    const device = deviceSelect.value as DeviceRequest;
    const progress = byId('progress');
    const bar = byId<HTMLProgressElement>('progress-bar');
    const text = byId('progress-text');
    button.disabled = true;
    status.classList.remove('error');
    status.textContent = `Loading ${model}…`;
    const ocr = createSharedOcr({
      manifestUrl: new URL(`/models/${encodeURIComponent(model)}/manifest.json`, location.href).href,
      cache,
      device,
      onProgress: (p) => {
        progress.hidden = false;
        bar.max = Math.max(1, p.bytesTotal);
        bar.value = p.bytesDone;
        text.textContent = p.done ? `Starting the model · ${progressText({ ...p, phase: 'session' }).split(' · ')[1]}` : progressText(p);
      },
      onRoleChange: (role, leader) => {
        byId('tab-role').textContent = role === 'leader' ? 'This tab runs the model for every tab of this site.' : `Another tab runs the model (${leader?.slice(0, 8)}); this one sends it images.`;
        if (role === 'follower') status.textContent = `${model} is loaded in another tab; images read here are sent to it.`;
      },
      onServed: () => {
        servedByTab += 1;
      },
    });
    shared = ocr;
    ocr.pipeline.then(
      (p) => {
        status.textContent = `${p.manifest.name} (${p.manifest.revision.slice(0, 8)}) is ready on ${p.device}. Manifest from ${p.manifestFrom}.`;
        badge(p.device, p.deviceReason);
        byId('progress-text').textContent += ' · ready';
        void caches.refresh();
      },
      (error) => {
        status.classList.add('error');
        status.textContent = `Could not load ${model}: ${toErrorData(error).message}`;
        progress.hidden = true;
        shared = undefined;
        button.disabled = false;
      },
    );
    return ocr;
  };

  byId<HTMLFormElement>('model-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  button.disabled = false;
  ocrPanel(async (bytes) => (await load()).recognize(bytes), (r) => {
    document.body.dataset.lastServedBy = r.servedBy;
    void caches.refresh();
  });
  servePanel(() => load());
  if (params.has('autoload')) void load();
  document.body.dataset.ready = 'true';
  // For tests and curious users: the page's state, read-only.
  Object.assign(window, { tesseraApp: { get shared() { return shared; }, get servedByTab() { return servedByTab; } } });
}

async function fillCatalogue(cache: ModelCache): Promise<void> {
  const select = byId<HTMLSelectElement>('model-select');
  let names: string[] = [];
  try {
    const response = await fetch('/models', { headers: { Accept: 'application/json' } });
    if (response.ok) names = ((await response.json()) as { models: { name: string }[] }).models.map((m) => m.name);
  } catch {
    // Offline: offer what is cached.
  }
  if (names.length === 0) names = [...new Set((await cache.listModels()).map((m) => m.name))];
  if (names.length === 0) return;
  const current = select.value;
  select.replaceChildren(...names.map((n) => el('option', { value: n, textContent: n })));
  if (names.includes(current)) select.value = current;
}

function badge(device: string, reason: string): void {
  const b = byId('device-badge');
  b.className = `badge ${device}`;
  const why = reason.replace(/^(webgpu|wasm):\s*/, '').replace(/^requested$/, 'chosen under Device');
  b.textContent = `${device === 'webgpu' ? 'WebGPU' : 'WebAssembly'} · ${why}`;
  b.title = reason;
}

async function deviceBadge(): Promise<void> {
  const caps = await detectCapabilities();
  if (caps.webgpu.available) {
    const a = caps.webgpu.adapterInfo;
    badge('webgpu', `adapter ${[a.vendor, a.architecture].filter(Boolean).join(' ') || 'available'}`);
  } else {
    badge('wasm', `${caps.webgpu.reason}${caps.wasm.threads ? ' · threads' : ' · one thread'}`);
  }
}

function networkBadge(): void {
  const b = byId('network-badge');
  const update = () => {
    b.textContent = navigator.onLine ? 'Online' : 'Offline';
    b.className = navigator.onLine ? 'badge' : 'badge offline';
  };
  addEventListener('online', update);
  addEventListener('offline', update);
  update();
}

function servePanel(load: () => Promise<SharedOcr>): void {
  const toggle = byId<HTMLButtonElement>('serve-switch');
  const status = byId('serve-status');
  const token = byId<HTMLInputElement>('join-token');
  let session: SessionClient | undefined;
  let served = 0;
  toggle.addEventListener('click', async () => {
    if (session) {
      await session.close();
      session = undefined;
      toggle.setAttribute('aria-checked', 'false');
      status.textContent = `Off. ${served} request${served === 1 ? '' : 's'} served.`;
      return;
    }
    if (token.value.trim() === '') {
      status.textContent = 'Enter the join token first (npm start prints it).';
      token.focus();
      return;
    }
    toggle.setAttribute('aria-checked', 'true');
    status.textContent = 'Loading the model…';
    const ocr = await load();
    const pipeline = await ocr.pipeline;
    session = serveOcr({
      host: location.origin,
      token: token.value.trim(),
      manifest: pipeline.manifest,
      device: pipeline.device,
      ocr,
      onServed: () => {
        served += 1;
        status.textContent = `Serving ${pipeline.manifest.name}: ${served} request${served === 1 ? '' : 's'} served.`;
      },
      onEvent: (e) => {
        if (e.type === 'joined') status.textContent = `Joined as ${e.sessionId.slice(0, 8)}: ${served} requests served.`;
        if (e.type === 'disconnected') status.textContent = `Disconnected (${e.reason || e.code}); ${e.retryInMs === undefined ? 'stopped' : 'reconnecting'}.`;
      },
    });
  });
}

void main();
