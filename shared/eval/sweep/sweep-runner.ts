import { createStandardConditions } from '../conditions.js';
import { type ExperimentProgress, ExperimentRunner } from '../runner.js';
import { createScenario } from '../scenarios/index.js';
import type { TrialRecord } from '../trial-record.js';
import { type SweepGrid, type SweepUnit, sweepUnits, unitKey } from './grid.js';
import type { SweepJournal } from './sweep-journal.js';
import { type ConditionOutcomes, toBits, type UnitResult } from './unit-result.js';

/**
 * Options for {@link runSweep} that do not change the results.
 *
 * @example
 * const options: RunSweepOptions = { journal, onProgress: progress.update, signal: controller.signal };
 */
export interface RunSweepOptions {
  /** Finished units are read from it and appended to it (resume). */
  journal?: SweepJournal;
  /** After every trial; `condition` reads `cell 3/9 seed 2 risk_based`. */
  onProgress?: (progress: ExperimentProgress) => void;
  /** Stops after the current trial; the unfinished unit is dropped and reruns next time. */
  signal?: AbortSignal;
}

/**
 * What {@link runSweep} returns.
 *
 * @example
 * const { units, interrupted } = await runSweep(grid);
 */
export interface SweepRunResult {
  /** Finished units in grid order (cells outermost, then seeds). */
  units: UnitResult[];
  /** Units read from the journal instead of run. */
  resumedUnits: number;
  interrupted: boolean;
}

/**
 * A short readable name of a unit (or cell), for progress lines.
 *
 * @example
 * unitLabel({ scenario: 'email_draft', injectionRate: 0.2, sensitivity: 0.9, specificity: 0.95, fatigue: 0.02, seed: 1 })
 * // 'email_draft inj 0.2 sens 0.9 spec 0.95 fat 0.02 seed 1'
 */
export function unitLabel(unit: SweepUnit): string {
  return `${unit.scenario} inj ${unit.injectionRate} sens ${unit.sensitivity} spec ${unit.specificity} fat ${unit.fatigue} seed ${unit.seed}`;
}

/**
 * Runs one unit: every condition of the grid on one cell with one seed,
 * exactly as `hitloop experiment` would with the same settings (the same
 * standard conditions, the same simulated reviewer, the same runner), but
 * without telemetry or per-trial files: a sweep keeps per-trial outcomes as
 * bit strings, which is all its metrics and tests need. Returns undefined
 * when `signal` stopped it.
 *
 * @example
 * const result = await runUnit(grid, { ...sweepCells(grid)[0]!, seed: 1 });
 */
export async function runUnit(
  grid: SweepGrid,
  unit: SweepUnit,
  options: { onProgress?: (p: ExperimentProgress) => void; signal?: AbortSignal } = {},
): Promise<UnitResult | undefined> {
  const scenario = createScenario(unit.scenario);
  const conditions = createStandardConditions(scenario, grid.nTrials, unit.injectionRate, {
    seed: unit.seed,
    auditSampleRate: grid.auditSampleRate,
    only: grid.conditions,
    ...(grid.errorTypes ? { errorTypes: grid.errorTypes } : {}),
  });
  const runner = new ExperimentRunner({
    seed: unit.seed,
    reviewer: {
      sensitivity: unit.sensitivity,
      specificity: unit.specificity,
      fatigue: { decayPerApproval: unit.fatigue, floor: grid.fatigueFloor },
      seed: unit.seed,
    },
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const { records, interrupted } = await runner.run(conditions);
  if (interrupted) return undefined;
  return toUnitResult(
    unit,
    grid.nTrials,
    conditions.map((c) => c.name),
    records,
  );
}

/**
 * Condenses a unit's trial records into bit strings, and checks the design is
 * paired: trial i of every condition must be the same task with the same
 * planted mistake (or none). The runner derives both from (seed, trial
 * index) alone; if that ever changed, McNemar's test would compare unrelated
 * trials, so this throws rather than report it.
 *
 * @example
 * const result = toUnitResult(unit, 200, ['no_oversight', 'risk_based'], records);
 */
export function toUnitResult(
  unit: SweepUnit,
  nTrials: number,
  conditionNames: readonly string[],
  records: readonly TrialRecord[],
): UnitResult {
  const byCondition = new Map<string, TrialRecord[]>(conditionNames.map((n) => [n, []]));
  for (const r of records) byCondition.get(r.condition)?.push(r);
  const first = byCondition.get(conditionNames[0]!)!;
  const conditions: ConditionOutcomes[] = conditionNames.map((name) => {
    const rows = byCondition.get(name)!;
    if (rows.length !== nTrials)
      throw new Error(
        `sweep: ${name} finished ${rows.length} of ${nTrials} trials in ${unitLabel(unit)}`,
      );
    rows.forEach((r, i) => {
      const ref = first[i]!;
      if (
        r.trial_index !== i ||
        r.task_id !== ref.task_id ||
        r.injected !== ref.injected ||
        r.error_type !== ref.error_type
      ) {
        throw new Error(
          `sweep: trial ${i} of ${name} (${r.task_id}, ${r.error_type ?? 'no mistake'}) is not trial ${i} of ` +
            `${conditionNames[0]} (${ref.task_id}, ${ref.error_type ?? 'no mistake'}) in ${unitLabel(unit)}; ` +
            'the conditions did not see the same trials, so they cannot be compared as pairs',
        );
      }
    });
    return {
      condition: name,
      policy_name: rows[0]?.policy_name ?? '',
      asked: toBits(rows.map((r) => r.approval_requested)),
      executed: toBits(rows.map((r) => r.executed)),
      completed: toBits(rows.map((r) => r.completed)),
      success: toBits(rows.map((r) => r.task_success)),
    };
  });
  return {
    key: unitKey(unit),
    scenario: unit.scenario,
    injectionRate: unit.injectionRate,
    sensitivity: unit.sensitivity,
    specificity: unit.specificity,
    fatigue: unit.fatigue,
    seed: unit.seed,
    n_trials: nTrials,
    injected: toBits(first.map((r) => r.injected)),
    conditions,
  };
}

/**
 * Runs every unit of a grid, in grid order, skipping the units the journal
 * already holds. Each unit is journaled as soon as it finishes, so a killed
 * sweep loses at most the unit it was in; rerunning continues from there
 * and ends with the same results as an uninterrupted run (every draw is keyed
 * by seed and trial, never by what ran before).
 *
 * @example
 * const { units } = await runSweep(SweepGrid.parse({ seeds: [1, 2] }), { journal });
 */
export async function runSweep(
  grid: SweepGrid,
  options: RunSweepOptions = {},
): Promise<SweepRunResult> {
  const { journal, onProgress, signal } = options;
  const units = sweepUnits(grid);
  const perUnit = grid.conditions.length * grid.nTrials;
  const total = units.length * perUnit;
  const results: UnitResult[] = [];
  let done = 0;
  let resumed = 0;
  let resumedUnits = 0;
  // Short enough for one terminal line beside the bar: which cell, which seed.
  const cellCount = units.length / grid.seeds.length;
  for (const [u, unit] of units.entries()) {
    const label = `cell ${Math.floor(u / grid.seeds.length) + 1}/${cellCount} seed ${unit.seed}`;
    const earlier = journal?.get(unitKey(unit));
    if (earlier) {
      results.push(earlier);
      resumedUnits++;
      done += perUnit;
      resumed += perUnit;
      onProgress?.({ condition: label, done, total, resumed });
      continue;
    }
    // A simulated unit never waits on I/O, so its awaits resolve as
    // microtasks and a signal handler (Ctrl-C) could not run until the whole
    // sweep ended. One turn of the event loop per unit lets it in.
    await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted) return { units: results, resumedUnits, interrupted: true };
    const base = done;
    const result = await runUnit(grid, unit, {
      ...(onProgress
        ? {
            onProgress: (p: ExperimentProgress) =>
              onProgress({
                condition: `${label} ${p.condition}`,
                done: base + p.done,
                total,
                resumed,
              }),
          }
        : {}),
      ...(signal ? { signal } : {}),
    });
    if (!result) return { units: results, resumedUnits, interrupted: true };
    journal?.append(result);
    results.push(result);
    done = base + perUnit;
  }
  return { units: results, resumedUnits, interrupted: false };
}
