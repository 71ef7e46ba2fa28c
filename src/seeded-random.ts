/**
 * A small seeded PRNG (mulberry32). It lives at the base layer because both
 * the model generator (src/cli) and the coordinator simulation need the same
 * repeatable sequence: same seed, same numbers on every machine.
 */

/**
 * @example
 * const next = seededRandom(42);
 * next(); // 0 <= x < 1, same sequence for seed 42 everywhere
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
