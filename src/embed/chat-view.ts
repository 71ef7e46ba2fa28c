/**
 * A chat: the conversation, a message box, Send and Stop, and live numbers
 * (tokens, tokens/s, time to the first token). One implementation for
 * `<tessera-chat>` (inside its shadow root) and the app's chat panel, so both
 * look and behave the same. The answer streams in as tokens arrive; the
 * conversation so far goes with every turn, so the model's chat template sees
 * the whole exchange.
 *
 * Accessibility: the conversation is a `log` (new turns are announced); the
 * answer being written is `aria-busy` until it ends, so a screen reader reads
 * it once, whole, rather than token by token.
 */
import { toErrorData } from '../errors.ts';
import type { ChatMessage, GenerateResult } from '../protocol/generation.ts';
import type { GenerationStream } from '../engine/generate/text-generator.ts';
import { formatTokenStats, tokenMeter, type TokenStats } from './token-meter.ts';

export interface ChatViewOptions {
  /** Starts the answer to the conversation so far (the last message is the user's). */
  chat(messages: ChatMessage[], options: { signal: AbortSignal }): GenerationStream;
  /** Accessible name of the message box. Default 'Message'. */
  label?: string;
  placeholder?: string;
  /** A system message put before the conversation on every turn. */
  system?: string;
  /** After each answer, with its numbers (also after Stop). */
  onAnswer?: (answer: { result: GenerateResult; stats: TokenStats }) => void;
  onError?: (error: unknown) => void;
}

export interface ChatView {
  readonly element: HTMLElement;
  /** The conversation so far (system message excluded). */
  readonly messages: readonly ChatMessage[];
  /** Sends a message as if typed; resolves when the answer has ended. */
  send(text: string): Promise<void>;
  /** Stops the answer being written (keeps what was written). */
  stop(): void;
  /** A line under the box for the host's news (loading progress, device). */
  setStatus(text: string, kind?: 'error'): void;
}

/** Styles for the view; the element adds them to its shadow root, the app to its document. */
export const CHAT_CSS = `
.tc { display: grid; gap: .6rem; font: inherit; color: inherit; }
.tc-log { max-height: 28rem; overflow-y: auto; }
.tc-turns { list-style: none; margin: 0; padding: .25rem; display: grid; gap: .5rem; }
.tc-turns:empty { display: none; }
.tc-turn { padding: .55rem .8rem; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 85%; }
.tc-user { justify-self: end; background: #2457d6; color: #fff; border-bottom-right-radius: 4px; }
.tc-assistant { justify-self: start; background: #eef1f6; color: #1b1f24; border-bottom-left-radius: 4px; }
.tc-assistant[aria-busy="true"]::after { content: "▍"; color: #2457d6; }
.tc-assistant.tc-error { background: #fde8e8; color: #7f1d1d; }
.tc-form { display: grid; grid-template-columns: 1fr auto auto; gap: .5rem; align-items: end; }
.tc-input { font: inherit; resize: vertical; min-height: 2.6rem; padding: .5rem .65rem; border: 1px solid #8a94a6; border-radius: 10px; background: #fff; color: #1b1f24; }
.tc-input:focus-visible, .tc button:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.tc button { font: inherit; padding: .5rem 1rem; border-radius: 10px; border: 1px solid #2457d6; background: #2457d6; color: #fff; cursor: pointer; }
.tc button:disabled { opacity: .55; cursor: default; }
.tc button.tc-stop { background: #fff; color: #b42318; border-color: #b42318; }
.tc-meta { display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; margin: 0; font-size: .85rem; color: #4b5565; font-variant-numeric: tabular-nums; min-height: 1.3em; }
.tc-meta .tc-error { color: #b42318; }
.tc-label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/**
 * @example
 * const view = chatView({ chat: (messages, o) => generator.generate({ messages }, o) });
 * root.append(view.element);
 */
export function chatView(options: ChatViewOptions, doc: Document = document): ChatView {
  const make = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ''): HTMLElementTagNameMap[K] => {
    const e = doc.createElement(tag);
    e.className = className;
    e.textContent = text;
    return e;
  };
  const root = make('div', 'tc');
  // The log role wraps the list (a list given another role would orphan its items).
  const log = make('div', 'tc-log');
  log.setAttribute('role', 'log');
  log.setAttribute('aria-label', 'Conversation');
  const turns = make('ol', 'tc-turns');
  log.append(turns);
  const form = make('form', 'tc-form');
  const id = `tc-${Math.random().toString(36).slice(2, 10)}`;
  const label = make('label', 'tc-label', options.label ?? 'Message');
  label.htmlFor = id;
  const input = make('textarea', 'tc-input');
  input.id = id;
  input.rows = 2;
  input.placeholder = options.placeholder ?? 'Ask something… (Enter to send, Shift+Enter for a new line)';
  const sendButton = make('button', 'tc-send', 'Send');
  sendButton.type = 'submit';
  const stopButton = make('button', 'tc-stop', 'Stop');
  stopButton.type = 'button';
  stopButton.disabled = true;
  stopButton.setAttribute('aria-label', 'Stop the answer');
  form.append(label, input, sendButton, stopButton);
  const meta = make('p', 'tc-meta');
  const stats = make('span', 'tc-stats');
  stats.setAttribute('aria-label', 'Answer speed');
  const status = make('span', 'tc-status');
  status.setAttribute('role', 'status');
  meta.append(stats, status);
  root.append(log, form, meta);

  const messages: ChatMessage[] = [];
  let running: AbortController | undefined;

  const turn = (role: ChatMessage['role'], text: string) => {
    const li = make('li', `tc-turn tc-${role}`, text);
    li.dataset.role = role;
    turns.append(li);
    log.scrollTop = log.scrollHeight;
    return li;
  };

  const send = async (text: string): Promise<void> => {
    const content = text.trim();
    if (content === '' || running) return;
    const controller = new AbortController();
    running = controller;
    messages.push({ role: 'user', content });
    turn('user', content);
    const answer = turn('assistant', '');
    answer.setAttribute('aria-busy', 'true');
    input.value = '';
    sendButton.disabled = true;
    stopButton.disabled = false;
    stats.textContent = 'Thinking…';
    const meter = tokenMeter();
    let written = '';
    try {
      const conversation = options.system ? [{ role: 'system' as const, content: options.system }, ...messages] : [...messages];
      const stream = options.chat(conversation, { signal: controller.signal });
      for await (const chunk of stream) {
        written += chunk.text;
        // Models often open with a newline or a space: not worth an empty line on screen.
        answer.textContent = written.trimStart();
        stats.textContent = formatTokenStats(meter.add(chunk));
        log.scrollTop = log.scrollHeight;
      }
      const result = await stream.result;
      // The result's text is authoritative (a held-back stop string is cut).
      answer.textContent = result.text.trimStart();
      messages.push({ role: 'assistant', content: result.text });
      // The engine's own time to first token leaves out the first message's model download.
      const final = { ...meter.stats(), ...(result.timeToFirstTokenMs !== undefined ? { timeToFirstTokenMs: result.timeToFirstTokenMs } : {}) };
      stats.textContent = `${formatTokenStats(final)}${result.finishReason === 'abort' ? ' · stopped' : result.finishReason === 'length' ? ' · length limit' : ''}`;
      answer.dataset.finish = result.finishReason;
      options.onAnswer?.({ result, stats: final });
    } catch (error) {
      if (controller.signal.aborted) {
        // Stopped by the user, and the source said so by throwing (e.g. before it began): keep what was written.
        if (written !== '') messages.push({ role: 'assistant', content: written });
        else messages.pop();
        answer.textContent = written.trimStart() || '(stopped)';
        answer.dataset.finish = 'abort';
        stats.textContent = `${formatTokenStats(meter.stats())} · stopped`;
        return;
      }
      // The question stays on screen but leaves the history, so a retry is a clean turn.
      messages.pop();
      answer.classList.add('tc-error');
      answer.textContent = `Could not answer: ${toErrorData(error).message}`;
      stats.textContent = '';
      options.onError?.(error);
    } finally {
      answer.setAttribute('aria-busy', 'false');
      running = undefined;
      sendButton.disabled = false;
      stopButton.disabled = true;
      input.focus();
    }
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void send(input.value);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send(input.value);
    }
  });
  stopButton.addEventListener('click', () => running?.abort());

  return {
    element: root,
    get messages() {
      return messages;
    },
    send,
    stop: () => running?.abort(),
    setStatus(text, kind) {
      status.textContent = text;
      status.classList.toggle('tc-error', kind === 'error');
    },
  };
}
