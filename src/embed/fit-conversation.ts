/**
 * A long chat outgrows the model's context: the prompt (the whole
 * conversation through the chat template) must leave room for an answer.
 * The oldest turns go first, whole exchanges at a time; the system message
 * and the latest user message always stay (if those alone do not fit, the
 * engine's own error says so).
 */
import type { ChatMessage } from '../protocol/generation.ts';

/**
 * @example
 * const messages = await fitConversation(history, (m) => generator.countTokens(m), generator.contextLength - 64);
 */
export async function fitConversation(
  messages: readonly ChatMessage[],
  countTokens: (messages: ChatMessage[]) => Promise<number>,
  maxPromptTokens: number,
): Promise<ChatMessage[]> {
  const system = messages[0]?.role === 'system' ? [messages[0]] : [];
  let turns = messages.slice(system.length);
  while (turns.length > 1 && (await countTokens([...system, ...turns])) > maxPromptTokens) {
    // Drop the oldest turn, and the assistant reply that answered it, so the history never starts mid-exchange.
    turns = turns.slice(1);
    while (turns.length > 1 && turns[0]!.role === 'assistant') turns = turns.slice(1);
  }
  return [...system, ...turns];
}

/** Tokens kept free for the answer: a quarter of the context, at most 256. */
export function answerReserve(contextLength: number): number {
  return Math.min(256, Math.floor(contextLength / 4));
}
