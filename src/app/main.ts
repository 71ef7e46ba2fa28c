/**
 * The PWA: pick a model, watch it load, read images or chat (the panel
 * follows the model's kind), manage the cache, lend the tab to the
 * coordinator. Tabs of this origin share one loaded OCR model
 * (src/transport/tab-share.ts). `?device=wasm|webgpu|auto` presets the
 * device, `?model=<name>` the model.
 */
import { registerSW } from 'virtual:pwa-register';
import { defaultCache } from '../cache/default-cache.ts';
import type { ModelCache } from '../cache/model-cache.ts';
import { detectCapabilities } from '../env.ts';
import { toErrorData } from '../errors.ts';
import { createSharedOcr, type SharedOcr } from '../embed/shared-ocr.ts';
import { loadPageGenerator, type PageGenerator } from '../embed/load-generator.ts';
import type { ChatGenerator } from '../embed/chat-turn.ts';
import { shareGeneratorAcrossTabs, type SharedGenerator } from '../transport/tab-generator.ts';
import type { LoadProgress } from '../fetch/progress.ts';
import type { ModelKind } from '../pack/model-kind.ts';
import { serveOcr } from '../embed/serve-ocr.ts';
import { serveGeneration } from '../embed/serve-generation.ts';
import type { RunnableGenerator } from '../transport/generation-runner.ts';
import type { DeviceRequest } from '../protocol/device.ts';
import type { SessionClient, SessionClientEvent } from '../transport/session-client.ts';
import { cachePanel } from './cache-panel.ts';
import { appCatalogue } from './catalogue.ts';
import { chatPanel } from './chat-panel.ts';
import { byId, el } from './dom.ts';
import { ocrPanel } from './ocr-panel.ts';
import { progressText } from './progress-text.ts';
import { prewarmConsent } from './prewarm-consent.ts';
import type { StandbyClient } from '../transport/standby-client.ts';

/** Wires the page. Called once from the module's end. */
export async function main(): Promise<void> {
  registerSW({ immediate: true });
  const params = new URLSearchParams(location.search);
  const cache = await defaultCache();
  const caches = cachePanel(cache);
  void caches.refresh();
  networkBadge();
  void deviceBadge();
  const kinds = await fillCatalogue(cache);

  const deviceSelect = byId<HTMLSelectElement>('device-select');
  const modelSelect = byId<HTMLSelectElement>('model-select');
  const preset = params.get('device');
  if (preset === 'wasm' || preset === 'webgpu' || preset === 'auto') deviceSelect.value = preset;
  const presetModel = params.get('model');
  if (presetModel !== null && kinds.has(presetModel)) modelSelect.value = presetModel;

  let shared: SharedOcr | undefined;
  let chat: ChatEntry | undefined;
  let servedByTab = 0;
  const status = byId('model-status');
  const button = byId<HTMLButtonElement>('load-button');
  const kindOf = (model: string): ModelKind => kinds.get(model) ?? 'ocr';
  const manifestUrlOf = (model: string) => new URL(`/models/${encodeURIComponent(model)}/manifest.json`, location.href).href;

  const onProgress = (p: LoadProgress) => {
    const bar = byId<HTMLProgressElement>('progress-bar');
    byId('progress').hidden = false;
    bar.max = Math.max(1, p.bytesTotal);
    bar.value = p.bytesDone;
    byId('progress-text').textContent = p.done ? `Starting the model · ${progressText({ ...p, phase: 'session' }).split(' · ')[1]}` : progressText(p);
  };
  const starting = (model: string) => {
    button.disabled = true;
    status.classList.remove('error');
    status.textContent = `Loading ${model}…`;
  };
  const ready = (name: string, revision: string, device: string, deviceReason: string, from: string) => {
    status.textContent = `${name} (${revision.slice(0, 8)}) is ready on ${device}. Manifest from ${from}.`;
    badge(device, deviceReason);
    byId('progress-text').textContent += ' · ready';
    void caches.refresh();
  };
  const failed = (model: string, error: unknown) => {
    status.classList.add('error');
    status.textContent = `Could not load ${model}: ${toErrorData(error).message}`;
    byId('progress').hidden = true;
    button.disabled = false;
  };

  /**
   * The picked text-generation model, shared by this origin's tabs like the
   * OCR model: the leading tab loads it (in the engine's worker) and the
   * others stream their answers from it.
   */
  const chatFor = (): NonNullable<typeof chat> => {
    const model = modelSelect.value;
    if (chat?.model === model) return chat;
    chat?.share.close();
    starting(model);
    let settled!: () => void;
    const entry: NonNullable<typeof chat> = {
      model,
      generator: undefined,
      settled: new Promise<void>((resolve) => (settled = resolve)),
      share: shareGeneratorAcrossTabs({
        name: `tessera:gen:${new URL(manifestUrlOf(model)).pathname}`,
        load: async () => {
          try {
            const g = await loadPageGenerator({ manifestUrl: manifestUrlOf(model), cache, device: deviceSelect.value as DeviceRequest, onProgress });
            entry.generator = g;
            settled();
            ready(g.manifest.name, g.manifest.revision, g.device, g.deviceReason, g.manifestFrom);
            return g;
          } catch (error) {
            settled();
            failed(model, error);
            if (chat === entry) chat = undefined;
            // After the waiting requests got this error (closing now would answer them "session closed"); the next message starts afresh.
            setTimeout(() => entry.share.close(), 0);
            throw error;
          }
        },
        onRoleChange: (role, leader) => {
          byId('tab-role').textContent = role === 'leader' ? 'This tab runs the model for every tab of this site.' : `Another tab runs the model (${leader?.slice(0, 8)}); this one sends it messages.`;
          if (role === 'follower') {
            status.textContent = `${model} is loaded in another tab; answers here come from it.`;
            settled();
          }
        },
      }),
    };
    chat = entry;
    return entry;
  };
  const chatGenerator = async (): Promise<ChatGenerator> => {
    const c = chatFor();
    return { generate: (request, o) => c.share.generate(request, o), countTokens: (input) => c.share.countTokens(input), ...(c.generator === undefined ? {} : { contextLength: c.generator.contextLength }) };
  };

  const load = async (): Promise<SharedOcr> => {
    if (shared) return shared;
    const model = modelSelect.value;
    const device = deviceSelect.value as DeviceRequest;
    starting(model);
    const ocr = createSharedOcr({
      manifestUrl: manifestUrlOf(model),
      cache,
      device,
      onProgress,
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
      (p) => ready(p.manifest.name, p.manifest.revision, p.device, p.deviceReason, p.manifestFrom),
      (error) => {
        failed(model, error);
        shared = undefined;
      },
    );
    return ocr;
  };

  const showPanels = () => {
    const isChat = kindOf(modelSelect.value) === 'text-generation';
    byId('chat').hidden = !isChat;
    byId('read').hidden = isChat;
    const skip = document.querySelector<HTMLAnchorElement>('a.skip');
    if (skip) {
      skip.href = isChat ? '#chat' : '#read';
      skip.textContent = isChat ? 'Skip to the chat' : 'Skip to reading an image';
    }
    // A loaded model of the other kind stays loaded; the button loads the picked one.
    button.disabled = isChat ? chat?.model === modelSelect.value : shared !== undefined;
  };
  modelSelect.addEventListener('change', showPanels);
  showPanels();
  const chatView = chatPanel(chatGenerator);

  byId<HTMLFormElement>('model-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (kindOf(modelSelect.value) === 'text-generation') chatFor();
    else void load();
  });
  button.disabled = false;
  ocrPanel(async (bytes) => (await load()).recognize(bytes), (r) => {
    document.body.dataset.lastServedBy = r.servedBy;
    void caches.refresh();
  });
  const serve = servePanel(async (): Promise<ServeTarget> => {
    if (kindOf(modelSelect.value) !== 'text-generation') {
      const ocr = await load();
      return { kind: 'ocr', ocr, pipeline: await ocr.pipeline };
    }
    // The generator this origin's tabs share: serve from the tab that runs it.
    const c = chatFor();
    await c.settled;
    const g = c.generator;
    if (!g) return { kind: 'none', why: c.share.role === 'follower' ? `Another tab runs ${c.model}: turn serving on in that tab.` : `${c.model} did not load; see above.` };
    return { kind: 'text-generation', manifest: g.manifest, device: g.device, contextLength: g.contextLength, maxTokenBytes: g.maxTokenBytes, generator: c.share };
  }, kindOf);
  // Serving follows the picker: another model picked while serving moves the tab to that model's pool.
  modelSelect.addEventListener('change', () => serve.follow(modelSelect.value));
  if (params.has('autoload')) {
    if (kindOf(modelSelect.value) === 'text-generation') chatFor();
    else void load();
  }
  document.body.dataset.ready = 'true';
  // For tests and curious users: the page's state, read-only.
  Object.assign(window, {
    tesseraApp: {
      get shared() {
        return shared;
      },
      get servedByTab() {
        return servedByTab;
      },
      get chat() {
        return chatView;
      },
      get chatShare() {
        return chat?.share;
      },
    },
  });
}

/** Fills the model picker; returns each model's kind (the panel to show). */
async function fillCatalogue(cache: ModelCache): Promise<Map<string, ModelKind>> {
  const select = byId<HTMLSelectElement>('model-select');
  const models = await appCatalogue(cache);
  const kinds = new Map(models.map((m) => [m.name, m.kind]));
  if (models.length === 0) return kinds;
  const current = select.value;
  // The option's text stays the bare name (what users type and scripts match); the kind rides along as data.
  select.replaceChildren(
    ...models.map((m) => {
      const option = el('option', { value: m.name, textContent: m.name, title: KIND_LABEL[m.kind] });
      option.dataset.kind = m.kind;
      return option;
    }),
  );
  if (kinds.has(current)) select.value = current;
  return kinds;
}

const KIND_LABEL: Record<ModelKind, string> = {
  'text-generation': 'Chat (text generation)',
  ocr: 'Read text in images (OCR)',
  hf: 'Hugging Face pipeline',
  onnx: 'ONNX model',
};

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

/** The picked text-generation model as this tab holds it (the share, and the generator when this tab leads). */
interface ChatEntry {
  model: string;
  share: SharedGenerator;
  /** Set once this tab (as the leader) has loaded it. */
  generator: PageGenerator | undefined;
  /** Resolves when this tab has loaded it, failed to, or learned that another tab runs it. */
  settled: Promise<void>;
}

/** What the serve switch lends to the coordinator: the picked model, ready, or why not. */
type ServeTarget =
  | { kind: 'ocr'; ocr: SharedOcr; pipeline: Awaited<SharedOcr['pipeline']> }
  | { kind: 'text-generation'; manifest: PageGenerator['manifest']; device: string; contextLength: number; maxTokenBytes: number | undefined; generator: RunnableGenerator }
  | { kind: 'none'; why: string };

/**
 * The Serve switch. It lends the tab for the picked model; when another
 * model is picked while it is on, the tab leaves the old model's pool before
 * anything else (it must never answer for a model it no longer holds) and
 * joins the new one's once that is loaded, or turns itself off and says why.
 */
function servePanel(prepare: () => Promise<ServeTarget>, kindOf: (model: string) => ModelKind): { follow(picked: string): void } {
  const toggle = byId<HTMLButtonElement>('serve-switch');
  const status = byId('serve-status');
  const token = byId<HTMLInputElement>('join-token');
  let session: SessionClient | undefined;
  const prewarm = prewarmConsent();
  let standby: StandbyClient | undefined;
  let served = 0;
  /** The model the session serves. */
  let serving: string | undefined;
  /** A join or a switch is under way; a pick made meanwhile is followed when it ends. */
  let busy = false;
  let pickedMeanwhile: string | undefined;
  const count = () => `${served} request${served === 1 ? '' : 's'} served`;

  const leave = async () => {
    const [s, sb] = [session, standby];
    session = undefined;
    standby = undefined;
    serving = undefined;
    await Promise.all([s?.close(), sb?.close()]);
  };
  const off = (text: string) => {
    toggle.setAttribute('aria-checked', 'false');
    status.textContent = text;
  };

  /** Loads the picked model and joins its pool; `failed` words a refusal (e.g. after leaving another model's pool). */
  const join = async (failed: (why: string) => string): Promise<void> => {
    toggle.setAttribute('aria-checked', 'true');
    status.textContent = 'Loading the model…';
    let target: ServeTarget;
    try {
      target = await prepare();
    } catch (error) {
      target = { kind: 'none', why: `The model did not load: ${toErrorData(error).message}` };
    }
    if (target.kind === 'none') return off(failed(target.why));
    const name = target.kind === 'ocr' ? target.pipeline.manifest.name : target.manifest.name;
    const common = {
      host: location.origin,
      token: token.value.trim(),
      onServed: () => {
        served += 1;
        status.textContent = `Serving ${name}: ${count()}.`;
      },
      onEvent: (e: SessionClientEvent) => {
        if (e.type === 'joined') status.textContent = `Joined as ${e.sessionId.slice(0, 8)}: ${served} requests served.`;
        if (e.type === 'disconnected') status.textContent = `Disconnected (${e.reason || e.code}); ${e.retryInMs === undefined ? 'stopped' : 'reconnecting'}.`;
      },
    };
    try {
      switch (target.kind) {
        case 'ocr':
          session = serveOcr({ ...common, manifest: target.pipeline.manifest, device: target.pipeline.device, ocr: target.ocr });
          break;
        case 'text-generation':
          session = await serveGeneration({ ...common, manifest: target.manifest, device: target.device, contextLength: target.contextLength, maxTokenBytes: target.maxTokenBytes, generator: target.generator });
          break;
        default: {
          const never: never = target;
          throw new TypeError(`unknown serve target ${JSON.stringify(never)}`);
        }
      }
    } catch (error) {
      // E.g. the model's tokenizer could not be read: nothing joined, and the switch says so.
      return off(failed(`Could not serve ${name}: ${toErrorData(error).message}`));
    }
    serving = name;
    // With the separate consent, the coordinator may also have this tab load other models (prewarm-consent.ts).
    const joined = session;
    const offered = await prewarm.start({ token: token.value.trim(), serving: [name] });
    // Switched off (or to another model) while the offer was being made: take it back.
    if (session === joined) standby = offered;
    else await offered?.close();
  };

  /** One change at a time: the switch stays disabled until it is done, then a model picked meanwhile is followed. */
  const exclusive = async (work: () => Promise<void>): Promise<void> => {
    busy = true;
    pickedMeanwhile = undefined;
    toggle.disabled = true;
    try {
      await work();
    } finally {
      busy = false;
      toggle.disabled = false;
    }
    const picked = pickedMeanwhile;
    pickedMeanwhile = undefined;
    if (picked !== undefined) follow(picked);
  };

  toggle.addEventListener('click', async () => {
    if (busy) return;
    if (session) {
      await exclusive(leave);
      return off(`Off. ${count()}.`);
    }
    if (token.value.trim() === '') {
      status.textContent = 'Enter the join token first (npm start prints it).';
      token.focus();
      return;
    }
    await exclusive(() => join((why) => why));
  });

  const follow = (model: string): void => {
    if (busy) {
      pickedMeanwhile = model;
      return;
    }
    if (!session || serving === undefined || serving === model) return;
    // The tab keeps its OCR model loaded when another OCR model is picked (one is loaded per tab): it goes on serving the one it has.
    if (kindOf(model) !== 'text-generation' && kindOf(serving) !== 'text-generation') return;
    const old = serving;
    void exclusive(async () => {
      status.textContent = `Leaving ${old}'s pool: ${model} is picked now…`;
      await leave();
      await join((why) => `Stopped serving ${old}: ${why}`);
    });
  };
  return { follow };
}

void main();
