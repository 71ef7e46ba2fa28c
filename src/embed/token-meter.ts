/**
 * Live numbers for a streamed answer: tokens so far, time to the first
 * token, and the decode rate. The rate counts from the first token on, so
 * loading and the prompt's prefill do not drag it down: it is the speed a
 * reader sees text appear at.
 */
import type { GenerateChunk } from '../protocol/generation.ts';

export interface TokenStats {
  tokens: number;
  /** From `start()` to the first chunk with a token. */
  timeToFirstTokenMs: number | undefined;
  /** Tokens after the first, per second since the first arrived; undefined until two have. */
  tokensPerSecond: number | undefined;
}

export interface TokenMeter {
  add(chunk: GenerateChunk): TokenStats;
  stats(): TokenStats;
}

/**
 * @example
 * const meter = tokenMeter();
 * for await (const chunk of stream) stats.textContent = formatTokenStats(meter.add(chunk));
 */
export function tokenMeter(now: () => number = () => performance.now()): TokenMeter {
  const started = now();
  let tokens = 0;
  let firstAt: number | undefined;
  let firstTokens = 0;
  let lastAt = started;
  const stats = (): TokenStats => ({
    tokens,
    timeToFirstTokenMs: firstAt === undefined ? undefined : firstAt - started,
    tokensPerSecond: firstAt === undefined || lastAt <= firstAt || tokens <= firstTokens ? undefined : ((tokens - firstTokens) * 1000) / (lastAt - firstAt),
  });
  return {
    add(chunk) {
      const n = chunk.tokenIds.length;
      if (n === 0) return stats();
      const t = now();
      if (firstAt === undefined) {
        firstAt = t;
        firstTokens = n;
      }
      tokens += n;
      lastAt = t;
      return stats();
    },
    stats,
  };
}

/**
 * @example
 * formatTokenStats({ tokens: 42, timeToFirstTokenMs: 240, tokensPerSecond: 18.26 }); // '42 tokens · 18.3 tokens/s · first token in 240 ms'
 */
export function formatTokenStats(s: TokenStats): string {
  const parts = [`${s.tokens} token${s.tokens === 1 ? '' : 's'}`];
  if (s.tokensPerSecond !== undefined) parts.push(`${s.tokensPerSecond.toFixed(1)} tokens/s`);
  if (s.timeToFirstTokenMs !== undefined) parts.push(`first token in ${Math.round(s.timeToFirstTokenMs)} ms`);
  return parts.join(' · ');
}
