/**
 * The next token from one position's logits: repetition penalty, then greedy
 * (argmax) or sampling with temperature, top-k and top-p. Pure, with the
 * random source injected, so a seed reproduces a sampled generation.
 */

export interface PickOptions {
  /** 0 or absent: greedy. */
  temperature?: number;
  /** 0 or absent: every token. */
  topK?: number;
  /** 1 or absent: every token. */
  topP?: number;
  /** > 1 penalises `seen` tokens (CTRL, as transformers does it); 1 or absent: none. */
  repetitionPenalty?: number;
}

/**
 * @example
 * const next = seededRandom(42);
 * pickToken(logits, { temperature: 0.8, topP: 0.9 }, promptAndOutputIds, next);
 */
export function pickToken(logits: Float32Array, options: PickOptions, seen: Iterable<number>, random: () => number): number {
  const penalty = options.repetitionPenalty ?? 1;
  let scores = logits;
  if (penalty !== 1) {
    scores = logits.slice();
    for (const id of new Set(seen)) {
      const v = scores[id];
      if (v === undefined) continue;
      // Positive logits divided, negative multiplied: both make the token less likely.
      scores[id] = v > 0 ? v / penalty : v * penalty;
    }
  }
  const temperature = options.temperature ?? 0;
  if (temperature <= 0) return argmax(scores);

  // Candidates by descending score (ties: lower id first), cut to top-k.
  let order = Array.from(scores.keys()).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const topK = options.topK ?? 0;
  if (topK > 0 && topK < order.length) order = order.slice(0, topK);
  const max = scores[order[0] as number] as number;
  const weights = order.map((id) => Math.exp(((scores[id] as number) - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);
  const topP = options.topP ?? 1;
  if (topP < 1) {
    // The smallest prefix whose probability reaches p (at least one token).
    let sum = 0;
    let keep = 0;
    while (keep < probs.length && (keep === 0 || sum < topP)) sum += probs[keep++] as number;
    order = order.slice(0, keep);
    probs = probs.slice(0, keep).map((p) => p / sum);
  }
  let r = random();
  for (let i = 0; i < order.length; i++) {
    r -= probs[i] as number;
    if (r < 0) return order[i] as number;
  }
  return order[order.length - 1] as number;
}

/** Index of the largest value; ties go to the lowest index. */
export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = values[0] as number;
  for (let i = 1; i < values.length; i++) {
    const v = values[i] as number;
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}
