/**
 * Messages between tabs of one origin that share a model (tab-share.ts), sent
 * over a BroadcastChannel. Every tab sees every message, so each names its
 * sender and, for answers, the tab it is for.
 */
import type { ErrorData } from '../errors.ts';

export type TabMessage<Req = unknown, Res = unknown, C = unknown> =
  /** A tab asks who leads (sent when it starts; the leader answers with `leader`). */
  | { type: 'hello'; from: string }
  /** The sender holds the lock and serves requests from now on. */
  | { type: 'leader'; from: string }
  | { type: 'request'; from: string; id: string; payload: Req }
  | { type: 'result'; from: string; to: string; id: string; result: Res }
  /** Streamed output of request `id` (e.g. generated tokens), any number before its result. */
  | { type: 'chunk'; from: string; to: string; id: string; chunk: C }
  /** The asking tab gave up on request `id`: the leader stops serving it. */
  | { type: 'cancel'; from: string; id: string }
  | { type: 'error'; from: string; to: string; id: string; error: ErrorData };

/**
 * Accepts only well-formed messages: another script of the origin may post on
 * the same channel name, and a malformed message must not break the tab.
 *
 * @example
 * channel.onmessage = (e) => { const m = parseTabMessage(e.data); if (m) handle(m); };
 */
export function parseTabMessage(value: unknown): TabMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (typeof m.from !== 'string') return undefined;
  switch (m.type) {
    case 'hello':
    case 'leader':
      return m as TabMessage;
    case 'request':
    case 'cancel':
      return typeof m.id === 'string' ? (m as TabMessage) : undefined;
    case 'chunk':
    case 'result':
    case 'error':
      return typeof m.id === 'string' && typeof m.to === 'string' ? (m as TabMessage) : undefined;
    default:
      return undefined;
  }
}
