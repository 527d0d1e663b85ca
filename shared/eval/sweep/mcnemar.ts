/**
 * The exact McNemar test of one paired comparison: `onlyA` pairs where the
 * outcome happened under A but not under B, `onlyB` the reverse. Pairs where
 * both or neither had it (the concordant ones) carry no information about a
 * difference and do not enter the test.
 *
 * @example
 * const r: McNemarResult = { onlyA: 1, onlyB: 9, discordant: 10, p: 0.021484375 };
 */
export interface McNemarResult {
  onlyA: number;
  onlyB: number;
  /** `onlyA + onlyB`. */
  discordant: number;
  /** Two-sided exact p-value; 1 when there are no discordant pairs. */
  p: number;
}

/**
 * The exact (binomial) McNemar test: under "A and B do not differ", each
 * discordant pair is equally likely to go either way, so `onlyA` is
 * Binomial(onlyA + onlyB, 1/2). The two-sided p-value is twice the smaller
 * tail, capped at 1: `p = min(1, 2 · P(X ≤ min(onlyA, onlyB)))`.
 *
 * Exact rather than the chi-squared approximation because oversight
 * comparisons often have few discordant pairs (a handful of harmful actions
 * one policy let through and the other stopped), where the approximation is
 * poor. Beyond 1000 pairs the terms are summed in log space, so `2^-n`
 * does not underflow.
 *
 * @example
 * exactMcNemar(1, 9).p // 0.021484375 (2 · 11/1024)
 * exactMcNemar(0, 0).p // 1
 */
export function exactMcNemar(onlyA: number, onlyB: number): McNemarResult {
  for (const [name, v] of [
    ['onlyA', onlyA],
    ['onlyB', onlyB],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`exactMcNemar: ${name} must be a whole number >= 0, got ${v}`);
  }
  const n = onlyA + onlyB;
  const k = Math.min(onlyA, onlyB);
  // A tie (k = n/2) has a lower tail of at least 1/2, so p is exactly 1.
  if (n === 0 || 2 * k === n) return { onlyA, onlyB, discordant: n, p: 1 };
  // P(X = i+1) = P(X = i) (n - i) / (i + 1), from P(X = 0) = 2^-n. Up to
  // 1000 pairs 2^-n is a normal double and the products are exact for small
  // counts (b = 1, c = 9 gives exactly 22/1024); beyond, sum in log space.
  let tail = 0;
  if (n <= 1000) {
    let term = 2 ** -n;
    for (let i = 0; i <= k; i++) {
      tail += term;
      term = (term * (n - i)) / (i + 1);
    }
  } else {
    const logs: number[] = [];
    let log = -n * Math.LN2;
    for (let i = 0; i <= k; i++) {
      logs.push(log);
      log += Math.log(n - i) - Math.log(i + 1);
    }
    const top = Math.max(...logs);
    let sum = 0;
    for (const l of logs) sum += Math.exp(l - top);
    tail = Math.exp(top) * sum;
  }
  return { onlyA, onlyB, discordant: n, p: Math.min(1, 2 * tail) };
}

/**
 * Counts the discordant pairs of two aligned outcome vectors (index i of `a`
 * and of `b` is the same trial under two conditions) and runs
 * {@link exactMcNemar} on them.
 *
 * @example
 * pairedMcNemar([true, true, false], [false, true, false]) // { onlyA: 1, onlyB: 0, discordant: 1, p: 1 }
 */
export function pairedMcNemar(a: ArrayLike<boolean>, b: ArrayLike<boolean>): McNemarResult {
  if (a.length !== b.length)
    throw new RangeError(
      `pairedMcNemar: ${a.length} outcomes against ${b.length}; pairs must align`,
    );
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) onlyA++;
    else if (!a[i] && b[i]) onlyB++;
  }
  return exactMcNemar(onlyA, onlyB);
}

/**
 * Holm–Bonferroni adjusted p-values, in the order given: the p-values are
 * ranked from smallest, the i-th smallest (from 0) multiplied by `m − i`,
 * capped at 1, and made non-decreasing along the ranking. Rejecting where
 * the adjusted p < α keeps the chance of any false positive among the `m`
 * tests at most α, without assuming the tests are independent; it rejects
 * everything Bonferroni does, and sometimes more. A sweep runs many
 * McNemar tests (every pair of conditions in every cell), and at p < 0.05
 * one in twenty true nulls would look like a difference.
 *
 * @example
 * holmAdjust([0.01, 0.04, 0.03, 0.005]) // [0.03, 0.06, 0.06, 0.02]
 */
export function holmAdjust(ps: readonly number[]): number[] {
  const m = ps.length;
  const order = ps.map((_, i) => i).sort((a, b) => ps[a]! - ps[b]! || a - b);
  const adjusted = new Array<number>(m);
  let running = 0;
  for (let rank = 0; rank < m; rank++) {
    const i = order[rank]!;
    const p = ps[i]!;
    if (!(p >= 0 && p <= 1))
      throw new RangeError(`holmAdjust: p-values must be in [0, 1], got ${p}`);
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  }
  return adjusted;
}
