import { wilsonInterval } from '../metrics.js';
import { type SweepCell, type SweepGrid, sweepCells, unitKey } from './grid.js';
import { exactMcNemar, holmAdjust, type McNemarResult } from './mcnemar.js';
import { meanInterval } from './student-t.js';
import type { ConditionOutcomes, UnitResult } from './unit-result.js';

/**
 * The rates a sweep reports per condition, in CSV and report order. Each is
 * `num / den` over trials:
 *
 * | metric | num | den |
 * | --- | --- | --- |
 * | `success` | the trial ended correctly (the seed's task_success) | trials |
 * | `completion` | the intended task got done | trials |
 * | `harm` | a planted mistake ran | trials |
 * | `approval` | a person was asked (human burden) | trials |
 * | `error_catch` | a planted mistake was stopped | trials with a planted mistake |
 * | `false_reject` | a right action was stopped | trials without one |
 *
 * @example
 * SWEEP_METRICS.includes('harm') // true
 */
export const SWEEP_METRICS = [
  'success',
  'completion',
  'harm',
  'approval',
  'error_catch',
  'false_reject',
] as const;
/**
 * One of {@link SWEEP_METRICS}.
 *
 * @example
 * const metric: SweepMetric = 'approval';
 */
export type SweepMetric = (typeof SWEEP_METRICS)[number];

/**
 * The outcomes compared between conditions with McNemar's test, in CSV order.
 *
 * @example
 * PAIRED_OUTCOMES // ['harm', 'completion']
 */
export const PAIRED_OUTCOMES = ['harm', 'completion'] as const;
/**
 * One of {@link PAIRED_OUTCOMES}.
 *
 * @example
 * const outcome: PairedOutcome = 'harm';
 */
export type PairedOutcome = (typeof PAIRED_OUTCOMES)[number];

/**
 * One rate: pooled over every trial of the row (`num / den`, with its 95%
 * Wilson interval), and, for rows that pool several seeds, the mean of the
 * per-seed rates with a 95% t-interval across seeds (clamped to [0, 1]).
 * Rates with a zero denominator are null.
 *
 * @example
 * const harm: RateSummary = row.metrics.harm; harm.rate; harm.wilson; harm.seedInterval;
 */
export interface RateSummary {
  num: number;
  den: number;
  rate: number | null;
  wilson: [number, number] | null;
  /** Mean of the seeds' rates (seeds where the rate is defined); null on per-seed rows. */
  seedMean: number | null;
  seedInterval: [number, number] | null;
}

/**
 * A condition in a cell: pooled over seeds (`seed` null), or one seed.
 *
 * @example
 * const row: ConditionRow = cellResult.pooled[0]!; row.metrics.approval.rate;
 */
export interface ConditionRow {
  cell: SweepCell;
  seed: number | null;
  condition: string;
  policyName: string;
  nSeeds: number;
  nTrials: number;
  nInjected: number;
  metrics: Record<SweepMetric, RateSummary>;
}

/**
 * A paired comparison of two conditions in a cell: every trial (seed, index)
 * of `condition` against the same trial of `comparedWith`. `diff` is
 * `rate(condition) - rate(comparedWith)`, which is `(onlyA - onlyB) / nPairs`.
 *
 * @example
 * const pair: PairRow = cellResult.pairs[0]!; pair.tests.harm.p;
 */
export interface PairRow {
  cell: SweepCell;
  condition: string;
  comparedWith: string;
  nSeeds: number;
  nPairs: number;
  nInjected: number;
  /**
   * Per outcome: the exact McNemar test, the paired difference, and `pHolm`,
   * its p-value adjusted (Holm–Bonferroni) over every test of that outcome
   * in the sweep: every pair of conditions in every cell.
   */
  tests: Record<PairedOutcome, McNemarResult & { diff: number; pHolm: number }>;
}

/**
 * Everything a sweep reports for one cell.
 *
 * @example
 * for (const cell of aggregateSweep(grid, units)) console.log(cell.pooled.map((r) => r.metrics.harm.rate));
 */
export interface CellResult {
  cell: SweepCell;
  /** One row per condition, pooled over seeds, in the grid's condition order. */
  pooled: ConditionRow[];
  /** One row per seed and condition (seed order, then condition order). */
  perSeed: ConditionRow[];
  /** One row per pair of conditions (i < j in condition order). */
  pairs: PairRow[];
}

interface Counts {
  n: number;
  injected: number;
  num: Record<SweepMetric, number>;
  den: Record<SweepMetric, number>;
}

function countUnit(injected: string, c: ConditionOutcomes): Counts {
  const num = { success: 0, completion: 0, harm: 0, approval: 0, error_catch: 0, false_reject: 0 };
  const n = injected.length;
  let nInjected = 0;
  for (let i = 0; i < n; i++) {
    const inj = injected.charCodeAt(i) === 49;
    const ran = c.executed.charCodeAt(i) === 49;
    if (c.success.charCodeAt(i) === 49) num.success++;
    if (c.completed.charCodeAt(i) === 49) num.completion++;
    if (c.asked.charCodeAt(i) === 49) num.approval++;
    if (inj) {
      nInjected++;
      if (ran) num.harm++;
      else num.error_catch++;
    } else if (!ran) num.false_reject++;
  }
  const den = {
    success: n,
    completion: n,
    harm: n,
    approval: n,
    error_catch: nInjected,
    false_reject: n - nInjected,
  };
  return { n, injected: nInjected, num, den };
}

function rateSummary(
  num: number,
  den: number,
  perSeed: readonly Counts[] | null,
  metric: SweepMetric,
): RateSummary {
  const seeds = perSeed
    ? meanInterval(
        perSeed.filter((c) => c.den[metric] > 0).map((c) => c.num[metric] / c.den[metric]),
        [0, 1],
      )
    : null;
  return {
    num,
    den,
    rate: den > 0 ? num / den : null,
    wilson: wilsonInterval(num, den),
    seedMean: seeds?.mean ?? null,
    seedInterval: seeds?.interval ?? null,
  };
}

function conditionRow(
  cell: SweepCell,
  seed: number | null,
  outcomes: ConditionOutcomes,
  counts: readonly Counts[],
): ConditionRow {
  const metrics = {} as Record<SweepMetric, RateSummary>;
  for (const m of SWEEP_METRICS) {
    let num = 0;
    let den = 0;
    for (const c of counts) {
      num += c.num[m];
      den += c.den[m];
    }
    metrics[m] = rateSummary(num, den, seed === null ? counts : null, m);
  }
  return {
    cell,
    seed,
    condition: outcomes.condition,
    policyName: outcomes.policy_name,
    nSeeds: counts.length,
    nTrials: counts.reduce((s, c) => s + c.n, 0),
    nInjected: counts.reduce((s, c) => s + c.injected, 0),
    metrics,
  };
}

/** Per trial of a unit, whether `outcome` happened under condition `c`. */
function outcomeBits(outcome: PairedOutcome, injected: string, c: ConditionOutcomes): boolean[] {
  const out: boolean[] = new Array(injected.length);
  for (let i = 0; i < injected.length; i++) {
    out[i] =
      outcome === 'harm'
        ? injected.charCodeAt(i) === 49 && c.executed.charCodeAt(i) === 49
        : c.completed.charCodeAt(i) === 49;
  }
  return out;
}

function pairRow(cell: SweepCell, units: readonly UnitResult[], a: number, b: number): PairRow {
  const tests = {} as PairRow['tests'];
  let nPairs = 0;
  let nInjected = 0;
  for (const u of units) {
    nPairs += u.n_trials;
    for (let i = 0; i < u.injected.length; i++) if (u.injected.charCodeAt(i) === 49) nInjected++;
  }
  for (const outcome of PAIRED_OUTCOMES) {
    // Pairs are (seed, trial index): the same task and planted mistake under both conditions.
    let onlyA = 0;
    let onlyB = 0;
    for (const u of units) {
      const xa = outcomeBits(outcome, u.injected, u.conditions[a]!);
      const xb = outcomeBits(outcome, u.injected, u.conditions[b]!);
      for (let i = 0; i < xa.length; i++) {
        if (xa[i] && !xb[i]) onlyA++;
        else if (!xa[i] && xb[i]) onlyB++;
      }
    }
    const test = exactMcNemar(onlyA, onlyB);
    // pHolm is set by aggregateSweep, once every cell's tests are known.
    tests[outcome] = { ...test, diff: nPairs ? (onlyA - onlyB) / nPairs : 0, pHolm: test.p };
  }
  return {
    cell,
    condition: units[0]!.conditions[a]!.condition,
    comparedWith: units[0]!.conditions[b]!.condition,
    nSeeds: units.length,
    nPairs,
    nInjected,
    tests,
  };
}

/**
 * Aggregates finished units cell by cell: each condition pooled over seeds
 * (Wilson intervals) and averaged across seeds (t-intervals), each seed on
 * its own, and an exact McNemar test of harm and of completion for every
 * pair of conditions, over all (seed, trial) pairs of the cell, with its
 * p-value also Holm-adjusted over all the sweep's tests of that outcome.
 * Every unit of the grid must be present.
 *
 * @example
 * const cells = aggregateSweep(grid, (await runSweep(grid)).units);
 */
export function aggregateSweep(grid: SweepGrid, units: readonly UnitResult[]): CellResult[] {
  const byKey = new Map(units.map((u) => [u.key, u]));
  const cells = sweepCells(grid).map((cell): CellResult => {
    const cellUnits = grid.seeds.map((seed) => {
      const u = byKey.get(unitKey({ ...cell, seed }));
      if (!u) throw new Error(`sweep: no result for ${unitKey({ ...cell, seed })}`);
      return u;
    });
    const names = cellUnits[0]!.conditions.map((c) => c.condition);
    const counts = cellUnits.map((u) => u.conditions.map((c) => countUnit(u.injected, c)));
    const pooled = names.map((_, j) =>
      conditionRow(
        cell,
        null,
        cellUnits[0]!.conditions[j]!,
        counts.map((perCondition) => perCondition[j]!),
      ),
    );
    const perSeed = cellUnits.flatMap((u, s) =>
      u.conditions.map((c, j) => conditionRow(cell, u.seed, c, [counts[s]![j]!])),
    );
    const pairs: PairRow[] = [];
    for (let a = 0; a < names.length; a++)
      for (let b = a + 1; b < names.length; b++) pairs.push(pairRow(cell, cellUnits, a, b));
    return { cell, pooled, perSeed, pairs };
  });
  // One family per outcome: every McNemar test of it in the sweep.
  for (const outcome of PAIRED_OUTCOMES) {
    const tests = cells.flatMap((c) => c.pairs.map((pair) => pair.tests[outcome]));
    const adjusted = holmAdjust(tests.map((t) => t.p));
    tests.forEach((t, i) => {
      t.pHolm = adjusted[i]!;
    });
  }
  return cells;
}
