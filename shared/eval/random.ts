import { uniformFromKey } from '../util/seeded-hash.js';

// Experiments draw every random number from a string key rather than from a
// shared stream: the draw for trial 17 is the same whether trials 0-16 ran in
// this process, in a crashed one, or not at all. That is what makes resuming a
// crashed experiment byte-identical to an uninterrupted run.

/**
 * A keyed draw in [0, 1): `keyedUniform('42', 'inject', 17)` is the same in
 * every process.
 *
 * @example
 * keyedUniform(42, 'review', 3, 'decide') < 0.9 // a reproducible coin
 */
export function keyedUniform(...parts: ReadonlyArray<string | number>): number {
  return uniformFromKey(parts.join('|'));
}

/**
 * Picks one element with a draw in [0, 1).
 *
 * @example
 * pick(['a', 'b', 'c'], 0.5) // 'b'
 */
export function pick<T>(items: readonly T[], u: number): T {
  if (items.length === 0) throw new RangeError('pick: empty list');
  const index = Math.min(items.length - 1, Math.floor(u * items.length));
  return items[index]!;
}

/**
 * A standard normal deviate from two uniform draws (Box-Muller). `u1` is
 * clamped away from 0 so the log stays finite.
 *
 * @example
 * standardNormal(0.5, 0.25) // ≈ 0 (cos(π/2) = 0)
 */
export function standardNormal(u1: number, u2: number): number {
  const r = Math.sqrt(-2 * Math.log(Math.max(u1, Number.MIN_VALUE)));
  return r * Math.cos(2 * Math.PI * u2);
}

/**
 * A lognormal deviate with the given median and log-scale spread (sigma):
 * `median * exp(sigma * z)`.
 *
 * @example
 * lognormal(8000, 0.5, 0) // 8000
 */
export function lognormal(medianValue: number, sigma: number, z: number): number {
  return medianValue * Math.exp(sigma * z);
}

/**
 * A small fast seeded generator (mulberry32) for loops that need millions of
 * draws, such as bootstrap resampling, where hashing a string per draw would
 * be too slow. Seed it from a keyed draw so it is still reproducible.
 *
 * @example
 * const next = mulberry32(keyedUniform(42, 'bootstrap'));
 * next(); // a number in [0, 1)
 */
export function mulberry32(seed: number): () => number {
  // A draw in [0, 1) becomes a 32-bit state; integers are used as they are.
  let state = (seed < 1 && seed >= 0 ? Math.floor(seed * 2 ** 32) : seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
