/**
 * Seed helpers for generated models: each layer gets its own stream, so
 * generated models and their packs are reproducible.
 */
import { seededRandom } from '../../seeded-random.ts';

/** Mixes a seed with a stream id, so each layer has its own independent sequence. */
export function deriveSeed(seed: number, stream: number): number {
  let h = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Uniform floats in [-scale, scale). */
export function randomFloats(count: number, seed: number, scale: number): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}
