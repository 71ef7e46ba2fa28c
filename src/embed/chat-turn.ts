/**
 * One answer in a chat UI: the conversation cut to fit the model's context
 * (fit-conversation.ts), then streamed. Returned at once, before the model
 * has loaded, so the view can start reading (deferred-stream.ts).
 */
import type { ChatMessage } from '../protocol/generation.ts';
import { deferredStream } from './deferred-stream.ts';
import { answerReserve, fitConversation } from './fit-conversation.ts';
import type { GenerationStream, TextGenerator } from '../engine/generate/text-generator.ts';

/**
 * @example
 * const stream = chatTurn(() => api.generator('tiny-llama'), messages, { signal });
 */
export function chatTurn(
  generator: () => Promise<TextGenerator>,
  messages: ChatMessage[],
  options: { signal?: AbortSignal; maxNewTokens?: number },
): GenerationStream {
  return deferredStream(async () => {
    const g = await generator();
    const reserve = Math.min(answerReserve(g.contextLength), options.maxNewTokens ?? Infinity);
    const fitted = await fitConversation(messages, (m) => g.countTokens(m), g.contextLength - reserve);
    return g.generate({ messages: fitted, ...(options.maxNewTokens ? { maxNewTokens: options.maxNewTokens } : {}) }, options.signal ? { signal: options.signal } : {});
  });
}
