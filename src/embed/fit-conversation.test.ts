import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../protocol/generation.ts';
import { answerReserve, fitConversation } from './fit-conversation.ts';

// An in-test counter: 10 tokens a message.
const count = async (m: ChatMessage[]) => m.length * 10;
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

describe('fitConversation', () => {
  it('keeps a conversation that fits as it is', async () => {
    const history = [user('a'), assistant('b'), user('c')];
    expect(await fitConversation(history, count, 30)).toEqual(history);
  });

  it('drops the oldest exchanges first, keeping the system message and never starting on an answer', async () => {
    const history: ChatMessage[] = [{ role: 'system', content: 's' }, user('q1'), assistant('a1'), user('q2'), assistant('a2'), user('q3')];
    expect(await fitConversation(history, count, 40)).toEqual([{ role: 'system', content: 's' }, user('q2'), assistant('a2'), user('q3')]);
    expect(await fitConversation(history, count, 25)).toEqual([{ role: 'system', content: 's' }, user('q3')]);
  });

  it('keeps the latest message even when it alone is too long (the engine reports that)', async () => {
    expect(await fitConversation([user('q1'), assistant('a1'), user('q2')], count, 5)).toEqual([user('q2')]);
  });

  it('reserves a quarter of the context for the answer, at most 256 tokens', () => {
    expect(answerReserve(256)).toBe(64);
    expect(answerReserve(4096)).toBe(256);
  });
});
