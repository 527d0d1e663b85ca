import {
  type CellResult,
  type ConditionRow,
  PAIRED_OUTCOMES,
  type PairRow,
  SWEEP_METRICS,
  type SweepMetric,
} from './aggregate.js';

const RATE_COLUMNS = SWEEP_METRICS.flatMap((m) => [
  `${m}_rate`,
  `${m}_num`,
  `${m}_den`,
  `${m}_wilson_low`,
  `${m}_wilson_high`,
  `${m}_seed_mean`,
  `${m}_seed_low`,
  `${m}_seed_high`,
]);
const PAIR_COLUMNS = PAIRED_OUTCOMES.flatMap((o) => [
  `${o}_only_condition`,
  `${o}_only_compared`,
  `${o}_diff`,
  `${o}_mcnemar_p`,
  `${o}_mcnemar_p_holm`,
]);

/**
 * The columns of `sweep.csv`, in order (docs/sweep.md describes each). Three
 * kinds of row share them, told apart by `row_type`:
 *
 * - `pooled`: a condition in a cell, over all seeds: rates with Wilson
 *   intervals, and the seeds' mean with a t-interval;
 * - `mcnemar`: a pair of conditions in a cell (`condition` against
 *   `compared_with`): discordant pairs, paired difference and exact McNemar
 *   p-value (also Holm-adjusted over the sweep), for harm and for
 *   completion; `n_trials` counts the pairs;
 * - `seed`: a condition in a cell with one seed (no `_seed_` columns).
 *
 * Columns that do not apply to a row are empty.
 *
 * @example
 * SWEEP_COLUMNS[0] // 'row_type'
 */
export const SWEEP_COLUMNS = [
  'row_type',
  'scenario',
  'injection_rate',
  'reviewer_sensitivity',
  'reviewer_specificity',
  'reviewer_fatigue',
  'seed',
  'condition',
  'policy_name',
  'compared_with',
  'n_seeds',
  'n_trials',
  'n_injected',
  ...RATE_COLUMNS,
  ...PAIR_COLUMNS,
] as const;

/**
 * A number as the CSV writes it: whole numbers as they are, others to six
 * significant digits (`0.133333`, `1.2e-7`), the same on every machine.
 *
 * @example
 * csvNumber(2 / 15) // '0.133333'
 */
export function csvNumber(value: number): string {
  if (Number.isInteger(value)) return String(value === 0 ? 0 : value);
  return String(Number(value.toPrecision(6)));
}

function cell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? csvNumber(value) : '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

type Row = Partial<Record<(typeof SWEEP_COLUMNS)[number], string | number | null>>;

function cellColumns(row: ConditionRow | PairRow): Row {
  return {
    scenario: row.cell.scenario,
    injection_rate: row.cell.injectionRate,
    reviewer_sensitivity: row.cell.sensitivity,
    reviewer_specificity: row.cell.specificity,
    reviewer_fatigue: row.cell.fatigue,
    condition: row.condition,
    n_seeds: row.nSeeds,
  };
}

function conditionColumns(row: ConditionRow): Row {
  const out: Record<string, string | number | null> = {
    ...cellColumns(row),
    row_type: row.seed === null ? 'pooled' : 'seed',
    seed: row.seed,
    policy_name: row.policyName,
    n_trials: row.nTrials,
    n_injected: row.nInjected,
  };
  for (const m of SWEEP_METRICS as readonly SweepMetric[]) {
    const r = row.metrics[m];
    out[`${m}_rate`] = r.rate;
    out[`${m}_num`] = r.num;
    out[`${m}_den`] = r.den;
    out[`${m}_wilson_low`] = r.wilson?.[0] ?? null;
    out[`${m}_wilson_high`] = r.wilson?.[1] ?? null;
    if (row.seed === null) {
      out[`${m}_seed_mean`] = r.seedMean;
      out[`${m}_seed_low`] = r.seedInterval?.[0] ?? null;
      out[`${m}_seed_high`] = r.seedInterval?.[1] ?? null;
    }
  }
  return out as Row;
}

function pairColumns(row: PairRow): Row {
  const out: Record<string, string | number | null> = {
    ...cellColumns(row),
    row_type: 'mcnemar',
    compared_with: row.comparedWith,
    n_trials: row.nPairs,
    n_injected: row.nInjected,
  };
  for (const o of PAIRED_OUTCOMES) {
    const t = row.tests[o];
    out[`${o}_only_condition`] = t.onlyA;
    out[`${o}_only_compared`] = t.onlyB;
    out[`${o}_diff`] = t.diff;
    out[`${o}_mcnemar_p`] = t.p;
    out[`${o}_mcnemar_p_holm`] = t.pHolm;
  }
  return out as Row;
}

/**
 * `sweep.csv`: a header of {@link SWEEP_COLUMNS}, then for each cell (grid
 * order) its `pooled` rows (condition order), its `mcnemar` rows (pairs in
 * condition order) and its `seed` rows (seed order, then condition order).
 * Lines end `\r\n` like `results.csv`. No timestamps or timings: the same
 * grid gives the same bytes.
 *
 * @example
 * writeFileSync('out/sweep.csv', toSweepCsv(aggregateSweep(grid, units)));
 */
export function toSweepCsv(cells: readonly CellResult[]): string {
  const line = (row: Row) => `${SWEEP_COLUMNS.map((c) => cell(row[c])).join(',')}\r\n`;
  let out = `${SWEEP_COLUMNS.join(',')}\r\n`;
  for (const c of cells) {
    for (const row of c.pooled) out += line(conditionColumns(row));
    for (const row of c.pairs) out += line(pairColumns(row));
    for (const row of c.perSeed) out += line(conditionColumns(row));
  }
  return out;
}
