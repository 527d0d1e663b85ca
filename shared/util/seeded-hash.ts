/**
 * A deterministic draw in [0, 1) from a string key: the same key gives the
 * same number in every process and on every platform. Two independent 32-bit
 * lanes (FNV-1a style, with different primes) are combined into 53 bits so the
 * draw has a double's full resolution.
 *
 * @example
 * uniformFromKey('42|run-1|0') === uniformFromKey('42|run-1|0') // true
 */
export function uniformFromKey(key: string): number {
  let h1 = 0x811c9dc5 ^ key.length;
  let h2 = 0x01000193 ^ (key.length * 31);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  // Final avalanche so near-identical keys (index 1 vs 2) land far apart.
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h1 = Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b);
  h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  return ((h1 >>> 0) * 2 ** 21 + ((h2 >>> 0) >>> 11)) / 2 ** 53;
}
