import type { TensorData } from './types.ts';

export interface DecodedText {
  text: string;
  /** Mean of the winning probabilities of the kept characters; 0 when none. */
  score: number;
}

/**
 * Greedy CTC decoding of a [batch, time, classes] probability tensor: the
 * most likely class at each step, repeats merged, blanks (class 0) dropped.
 *
 * @example
 * // classes: ['<blank>', 'a', 'b']; steps argmax: a a <blank> a b
 * ctcDecode(probs, ['<blank>', 'a', 'b']); // [{ text: 'aab', score: ... }]
 */
export function ctcDecode(probs: TensorData, characters: readonly string[]): DecodedText[] {
  const [batch = 0, steps = 0, classes = 0] = probs.dims;
  const data = probs.data as Float32Array;
  const out: DecodedText[] = [];
  for (let n = 0; n < batch; n++) {
    let text = '';
    let sum = 0;
    let kept = 0;
    let previous = -1;
    for (let t = 0; t < steps; t++) {
      const base = (n * steps + t) * classes;
      let best = 0;
      let bestP = data[base]!;
      for (let c = 1; c < classes; c++) {
        const p = data[base + c]!;
        if (p > bestP) { bestP = p; best = c; }
      }
      if (best !== 0 && best !== previous) {
        text += characters[best] ?? '';
        sum += bestP;
        kept++;
      }
      previous = best;
    }
    out.push({ text, score: kept === 0 ? 0 : sum / kept });
  }
  return out;
}
