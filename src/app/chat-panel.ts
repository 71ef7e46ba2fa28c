/**
 * The chat panel, shown when a text-generation model is picked: the shared
 * chat view (src/embed/chat-view.ts, the same one `<tessera-chat>` uses) over
 * the generator this origin's tabs share (the leading tab runs it). The
 * first message loads the model if "Load model" was not pressed yet.
 */
import { CHAT_CSS, chatView, type ChatView } from '../embed/chat-view.ts';
import { chatTurn, type ChatGenerator } from '../embed/chat-turn.ts';
import { byId } from './dom.ts';

/**
 * @example
 * const chat = chatPanel(() => loadChatModel());
 */
export function chatPanel(generator: () => Promise<ChatGenerator>): ChatView {
  const style = document.createElement('style');
  style.textContent = CHAT_CSS;
  document.head.append(style);
  const view = chatView({
    label: 'Message to the model',
    chat: (messages, { signal }) => chatTurn(generator, messages, { signal }),
  });
  byId('chat-root').replaceChildren(view.element);
  return view;
}
