/**
 * One answer in a chat UI: the conversation cut to fit the model's context
 * (fit-conversation.ts), then streamed. Returned at once, before the model
 * has loaded, so the view can start reading (deferred-stream.ts).
 */
import type { ChatMessage } from '../protocol/generation.ts';
import { deferredStream } from './deferred-stream.ts';
import { answerReserve, fitConversation } from './fit-conversation.ts';
import type { GenerationStream, TextGenerator } from '../engine/generate/text-generator.ts';

/** What a chat needs from a generator: a loaded one, or one shared from another tab (whose context length may be unknown here). */
export type ChatGenerator = Pick<TextGenerator, 'generate' | 'countTokens'> & { contextLength?: number };

/**
 * @example
 * const stream = chatTurn(() => api.generator('tiny-llama'), messages, { signal });
 */
export function chatTurn(
  generator: () => Promise<ChatGenerator>,
  messages: ChatMessage[],
  options: { signal?: AbortSignal; maxNewTokens?: number },
): GenerationStream {
  return deferredStream(async () => {
    const g = await generator();
    const context = g.contextLength;
    // Unknown context (a follower tab): send it whole; the leader's engine says if it is too long.
    const fitted = context === undefined ? messages : await fitConversation(messages, (m) => g.countTokens(m), context - Math.min(answerReserve(context), options.maxNewTokens ?? Infinity));
    return g.generate({ messages: fitted, ...(options.maxNewTokens ? { maxNewTokens: options.maxNewTokens } : {}) }, options.signal ? { signal: options.signal } : {});
  });
}
