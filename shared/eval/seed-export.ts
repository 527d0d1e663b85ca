import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ExperimentCondition } from './conditions.js';
import { buildSummary, toResultsCsv, writeFileAtomic } from './export.js';
import { MetricsCalculator } from './metrics.js';
import type { TrialRecord } from './trial-record.js';

/**
 * What {@link exportSeedResults} needs besides the records.
 *
 * @example
 * const options: SeedExportOptions = { outputDir: 'out', seed: 42, conditions, csvPath: 'results.csv', jsonPath: null };
 */
export interface SeedExportOptions {
  /** Relative paths are resolved under it (created if missing). */
  outputDir: string;
  seed: number | string;
  /** For the policy name and description of each condition. */
  conditions: readonly ExperimentCondition[];
  csvPath: string | null;
  jsonPath: string | null;
}

/**
 * `ExperimentRunner.exportResults`: `results.csv` and `summary.json` in the
 * shapes `runExperiment` writes (the seed's columns and keys first), at the
 * paths given, relative to `outputDir` as the seed's `export_results` had
 * them. Returns the absolute paths written (null for one not asked for).
 *
 * @example
 * const [csv, json] = exportSeedResults(records, { outputDir: 'out', seed: 42, conditions, csvPath: 'results.csv', jsonPath: 'summary.json' });
 */
export function exportSeedResults(
  records: readonly TrialRecord[],
  options: SeedExportOptions,
): [string | null, string | null] {
  const csv = options.csvPath ? resolve(options.outputDir, options.csvPath) : null;
  const json = options.jsonPath ? resolve(options.outputDir, options.jsonPath) : null;
  if (csv) {
    mkdirSync(dirname(csv), { recursive: true });
    writeFileAtomic(csv, toResultsCsv(records, { seed: options.seed }));
  }
  if (json) {
    const metrics = new MetricsCalculator({ seed: options.seed }).compute(records);
    const byName = new Map(options.conditions.map((c) => [c.name, c]));
    const policies = new Map(records.map((r) => [r.condition, r.policy_name]));
    const first = options.conditions[0];
    const summary = buildSummary(metrics, {
      scenario: [...new Set(options.conditions.map((c) => c.scenario.name))].join('+'),
      seed: options.seed,
      nTrials: first?.nTrials ?? 0,
      injectionRate: first?.injection.rate ?? 0,
      errorTypes: first?.injection.types ?? first?.scenario.errorTypes ?? [],
      reviewer: {},
      resamples: 2000,
      conditions: new Map(
        metrics.map((m) => {
          const c = byName.get(m.condition);
          const policy = policies.get(m.condition) ?? '';
          return [m.condition, { description: c?.description ?? '', policy }];
        }),
      ),
    });
    mkdirSync(dirname(json), { recursive: true });
    writeFileAtomic(json, `${JSON.stringify(summary.conditions, null, 2)}\n`);
  }
  return [csv, json];
}

/**
 * The seed's `ExperimentRunner.get_summary()`: per condition, trial counts
 * and rates (`error_catch_rate` null when nothing was injected).
 *
 * @example
 * seedSummary(records).conditions.always_approve?.success_rate // 0.8
 */
export interface SeedSummary {
  total_trials: number;
  conditions: Record<
    string,
    {
      n_trials: number;
      success_rate: number;
      injected_errors: number;
      errors_caught: number;
      error_catch_rate: number | null;
      approval_rate: number;
    }
  >;
}

/**
 * Builds {@link SeedSummary} from trial records.
 *
 * @example
 * const { total_trials } = seedSummary(records);
 */
export function seedSummary(records: readonly TrialRecord[]): SeedSummary {
  const conditions: SeedSummary['conditions'] = {};
  const groups = new Map<string, TrialRecord[]>();
  for (const r of records) groups.set(r.condition, [...(groups.get(r.condition) ?? []), r]);
  for (const [name, rs] of groups) {
    const count = (f: (r: TrialRecord) => boolean) => rs.filter(f).length;
    const injected = count((r) => r.injected);
    const caught = count((r) => r.error_caught);
    conditions[name] = {
      n_trials: rs.length,
      success_rate: count((r) => r.task_success) / rs.length,
      injected_errors: injected,
      errors_caught: caught,
      error_catch_rate: injected > 0 ? caught / injected : null,
      approval_rate: count((r) => r.approval_requested) / rs.length,
    };
  }
  return { total_trials: records.length, conditions };
}
