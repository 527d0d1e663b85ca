import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, configErrorFromZod } from '../errors.js';
import {
  type ConditionMetrics,
  type ErrorTypeMetrics,
  RATE_METRICS,
  type RateEstimate,
  VALUE_METRICS,
  type ValueMetric,
} from './metrics.js';
import { parseInputJson, readInputFile } from './read-input.js';
import {
  FLOAT_RESULTS_COLUMNS,
  RESULTS_COLUMNS,
  resultsRow,
  type TrialRecord,
} from './trial-record.js';

/**
 * File names an experiment writes into its `--out` directory.
 *
 * @example
 * join(outDir, EXPERIMENT_FILES.results) // 'out/results.csv'
 */
export const EXPERIMENT_FILES = {
  results: 'results.csv',
  summary: 'summary.json',
  manifest: 'manifest.json',
  journal: 'journal.jsonl',
  telemetry: 'telemetry.db',
  report: 'report.html',
} as const;

// Python's csv module with its defaults (QUOTE_MINIMAL, lines ending \r\n),
// which is what the seed's csv.DictWriter wrote.
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A number as Python prints `round(x, 2)` of a float: `8123.0`, `12.35`.
 *
 * @example
 * pythonFloat(8123) // '8123.0'
 */
export function pythonFloat(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded);
}

/**
 * `results.csv`: a header of {@link RESULTS_COLUMNS} (the seed's 15 columns
 * in its order, then ours) and one row per trial, in the order given (the
 * runner gives condition order, then trial index). As the seed's
 * `csv.DictWriter` wrote it: booleans `0`/`1`, latencies as Python floats
 * (`8123.0`), minimal quoting (a field with a comma, quote or line break),
 * lines ending `\r\n`. Nulls in our columns are empty.
 *
 * @example
 * writeFileSync('results.csv', toResultsCsv(records, { seed: 42 }));
 */
export function toResultsCsv(
  records: readonly TrialRecord[],
  options: { seed: number | string },
): string {
  let out = `${RESULTS_COLUMNS.join(',')}\r\n`;
  for (const r of records) {
    const row = resultsRow(r, options.seed);
    out += `${RESULTS_COLUMNS.map((c) => {
      const v = row[c];
      return FLOAT_RESULTS_COLUMNS.has(c) && typeof v === 'number' ? pythonFloat(v) : csvCell(v);
    }).join(',')}\r\n`;
  }
  return out;
}

const Interval = z
  .object({
    low: z.number(),
    high: z.number(),
    method: z.enum(['wilson', 'bootstrap_percentile']),
    n: z.number().int().nonnegative(),
    successes: z.number().int().nonnegative().optional(),
    resamples: z.number().int().positive().optional(),
  })
  .strict();
export type SummaryInterval = z.infer<typeof Interval>;

const MetricValue = z.number().nullable();

const RateOrNull = z.number().nullable();

const ErrorTypeSummary = z
  .object({
    n_injected: z.number().int().nonnegative(),
    n_approval_requests: z.number().int().nonnegative(),
    n_caught: z.number().int().nonnegative(),
    n_harm: z.number().int().nonnegative(),
    approval_rate: RateOrNull,
    error_catch_rate: RateOrNull,
    harm_rate: RateOrNull,
    intervals: z.record(z.string(), Interval.nullable()),
  })
  .strict();
/**
 * One error type within a condition in `summary.json`'s `by_error_type`.
 *
 * @example
 * summary.risk_based.by_error_type.sensitive_data?.error_catch_rate
 */
export type ErrorTypeSummary = z.infer<typeof ErrorTypeSummary>;

/**
 * One condition in `summary.json`: first the seed's keys in the seed's order
 * (`policy_name`, `n_runs`, `success_rate`, ... `cost_proxy`), then ours
 * (counts, `completion_rate`, `harm_rate`, `reviewer_seconds_per_trial`),
 * `intervals` (a 95% interval per metric) and `by_error_type`. A rate whose
 * denominator is 0 is null, where the seed wrote 0.
 *
 * @example
 * const c: ConditionSummary = readSummary('out').conditions.risk_based!;
 * c.error_catch_rate; c.intervals.error_catch_rate?.low;
 */
export const ConditionSummary = z
  .object({
    policy_name: z.string(),
    n_runs: z.number().int().nonnegative(),
    success_rate: MetricValue,
    approval_rate: MetricValue,
    human_latency_mean_ms: MetricValue,
    human_latency_p95_ms: MetricValue,
    time_to_complete_mean_ms: z.number(),
    time_to_complete_p95_ms: z.number(),
    error_catch_rate: MetricValue,
    false_reject_rate: MetricValue,
    tool_failure_rate: MetricValue,
    cost_proxy: z.number(),
    description: z.string(),
    n_trials: z.number().int().nonnegative(),
    n_injected: z.number().int().nonnegative(),
    n_correct: z.number().int().nonnegative(),
    n_approval_requests: z.number().int().nonnegative(),
    n_executed: z.number().int().nonnegative(),
    n_successes: z.number().int().nonnegative(),
    n_completed: z.number().int().nonnegative(),
    n_harm: z.number().int().nonnegative(),
    completion_rate: MetricValue,
    harm_rate: MetricValue,
    reviewer_seconds_per_trial: MetricValue,
    intervals: z.record(z.string(), Interval.nullable()),
    by_error_type: z.record(z.string(), ErrorTypeSummary),
  })
  .strict();
export type ConditionSummary = z.infer<typeof ConditionSummary>;

/**
 * `summary.json` as written: keyed by condition id at the top level, as the
 * seed's `export_summary_json` wrote it.
 *
 * @example
 * const file: SummaryFile = JSON.parse(readFileSync('out/summary.json', 'utf8'));
 * file.risk_based?.success_rate;
 */
export const SummaryFile = z.record(z.string(), ConditionSummary);
export type SummaryFile = z.infer<typeof SummaryFile>;

/**
 * `manifest.json`: what the experiment was (everything but the metrics).
 *
 * @example
 * const manifest = ExperimentManifest.parse(JSON.parse(readFileSync('out/manifest.json', 'utf8')));
 */
export const ExperimentManifest = z
  .object({
    format: z.literal('hitloop-experiment-manifest/1'),
    scenario: z.string(),
    seed: z.union([z.number(), z.string()]),
    n_trials: z.number().int().nonnegative(),
    injection_rate: z.number().min(0).max(1),
    error_types: z.array(z.string()),
    reviewer: z.record(z.string(), z.unknown()),
    bootstrap_resamples: z.number().int().positive(),
    condition_order: z.array(z.string()),
    files: z.record(z.string(), z.string()),
  })
  .strict();
export type ExperimentManifest = z.infer<typeof ExperimentManifest>;

/**
 * An experiment's results in memory: the manifest plus the conditions of
 * `summary.json`. {@link writeExperimentOutputs} splits it into the two
 * files; {@link readSummary} joins them again.
 *
 * @example
 * const summary = readSummary('results/');
 * summary.condition_order.map((name) => summary.conditions[name]!.success_rate);
 */
export type ExperimentSummary = Omit<ExperimentManifest, 'format' | 'files'> & {
  conditions: SummaryFile;
};

/**
 * What {@link buildSummary} needs besides the metrics.
 *
 * @example
 * const meta: SummaryMeta = { scenario: 'coding', seed: 1, nTrials: 10, injectionRate: 0.2, errorTypes: ['wrong_path'], reviewer: {}, resamples: 2000, conditions: new Map() };
 */
export interface SummaryMeta {
  scenario: string;
  seed: number | string;
  nTrials: number;
  injectionRate: number;
  errorTypes: readonly string[];
  reviewer: Record<string, unknown>;
  resamples: number;
  /** Per condition: description and policy name. */
  conditions: ReadonlyMap<string, { description: string; policy: string }>;
}

/**
 * Builds the experiment's summary from per-condition metrics.
 *
 * @example
 * const summary = buildSummary(metrics, { scenario: 'email_draft', seed: 42, ... });
 */
export function buildSummary(
  metrics: readonly ConditionMetrics[],
  meta: SummaryMeta,
): ExperimentSummary {
  const conditions: SummaryFile = {};
  for (const m of metrics) {
    const info = meta.conditions.get(m.condition) ?? { description: '', policy: '' };
    const intervals: Record<string, SummaryInterval | null> = {};
    for (const key of RATE_METRICS) intervals[key] = rateInterval(m[key]);
    for (const key of VALUE_METRICS) intervals[key] = valueInterval(m, key);
    const byType: Record<string, ErrorTypeSummary> = {};
    for (const [type, t] of Object.entries(m.by_error_type)) byType[type] = errorTypeSummary(t);
    conditions[m.condition] = {
      policy_name: info.policy,
      n_runs: m.n_trials,
      success_rate: m.success_rate.value,
      approval_rate: m.approval_rate.value,
      human_latency_mean_ms: m.human_latency_mean_ms.value,
      human_latency_p95_ms: m.human_latency_p95_ms.value,
      // Not measured (no wall-clock times, so files are byte-identical by
      // seed); 0 is what the seed wrote when it had no times.
      time_to_complete_mean_ms: 0,
      time_to_complete_p95_ms: 0,
      error_catch_rate: m.error_catch_rate.value,
      false_reject_rate: m.false_reject_rate.value,
      tool_failure_rate: m.tool_failure_rate.value,
      // The seed's cost_proxy counts LLM tokens (or calls); the simulated agent makes none.
      cost_proxy: 0,
      description: info.description,
      n_trials: m.n_trials,
      n_injected: m.n_injected,
      n_correct: m.n_correct,
      n_approval_requests: m.n_approval_requests,
      n_executed: m.n_executed,
      n_successes: m.n_successes,
      n_completed: m.n_completed,
      n_harm: m.n_harm,
      completion_rate: m.completion_rate.value,
      harm_rate: m.harm_rate.value,
      reviewer_seconds_per_trial: m.reviewer_seconds_per_trial.value,
      intervals,
      by_error_type: byType,
    };
  }
  return {
    scenario: meta.scenario,
    seed: meta.seed,
    n_trials: meta.nTrials,
    injection_rate: meta.injectionRate,
    error_types: [...meta.errorTypes],
    reviewer: meta.reviewer,
    bootstrap_resamples: meta.resamples,
    condition_order: metrics.map((m) => m.condition),
    conditions,
  };
}

function errorTypeSummary(t: ErrorTypeMetrics): ErrorTypeSummary {
  return {
    n_injected: t.n_injected,
    n_approval_requests: t.n_approval_requests,
    n_caught: t.n_caught,
    n_harm: t.n_harm,
    approval_rate: t.approval_rate.value,
    error_catch_rate: t.error_catch_rate.value,
    harm_rate: t.harm_rate.value,
    intervals: {
      approval_rate: rateInterval(t.approval_rate),
      error_catch_rate: rateInterval(t.error_catch_rate),
      harm_rate: rateInterval(t.harm_rate),
    },
  };
}

function rateInterval(r: RateEstimate): SummaryInterval | null {
  if (!r.interval) return null;
  return {
    low: r.interval[0],
    high: r.interval[1],
    method: 'wilson',
    n: r.n,
    successes: r.successes,
  };
}

function valueInterval(m: ConditionMetrics, key: ValueMetric): SummaryInterval | null {
  const v = m[key];
  if (!v.interval) return null;
  return {
    low: v.interval[0],
    high: v.interval[1],
    method: 'bootstrap_percentile',
    n: v.n,
    resamples: v.resamples,
  };
}

/**
 * Writes `text` to `path` through a temporary file and a rename, so a crash
 * never leaves a half-written results file where a reader expects a whole one.
 *
 * @example
 * writeFileAtomic('out/results.csv', toResultsCsv(records));
 */
export function writeFileAtomic(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/**
 * Writes `results.csv`, `summary.json` (keyed by condition) and
 * `manifest.json` (the experiment's settings) into `dir`; returns their paths.
 *
 * @example
 * const { results, summary, manifest } = writeExperimentOutputs('out', records, summaryJson);
 */
export function writeExperimentOutputs(
  dir: string,
  records: readonly TrialRecord[],
  summary: ExperimentSummary,
): { results: string; summary: string; manifest: string } {
  const results = join(dir, EXPERIMENT_FILES.results);
  const summaryPath = join(dir, EXPERIMENT_FILES.summary);
  const manifestPath = join(dir, EXPERIMENT_FILES.manifest);
  const { conditions, ...settings } = summary;
  const manifest: ExperimentManifest = {
    format: 'hitloop-experiment-manifest/1',
    ...settings,
    files: {
      results: EXPERIMENT_FILES.results,
      summary: EXPERIMENT_FILES.summary,
      journal: EXPERIMENT_FILES.journal,
    },
  };
  writeFileAtomic(results, toResultsCsv(records, { seed: summary.seed }));
  writeFileAtomic(summaryPath, `${JSON.stringify(conditions, null, 2)}\n`);
  writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { results, summary: summaryPath, manifest: manifestPath };
}

function readJson(path: string): unknown {
  const text = readInputFile(
    path,
    'pass the --out directory of a finished `hitloop experiment` run',
  );
  return parseInputJson(
    path,
    text,
    'rerun `hitloop experiment` with the same arguments to rewrite it',
  );
}

/**
 * Reads and validates `manifest.json` and `summary.json` from an experiment
 * directory and joins them. Problems become a ConfigError naming the file
 * and the field.
 *
 * @example
 * const summary = readSummary('results/');
 */
export function readSummary(dir: string): ExperimentSummary {
  const manifestPath = join(dir, EXPERIMENT_FILES.manifest);
  const summaryPath = join(dir, EXPERIMENT_FILES.summary);
  const summaryJson = readJson(summaryPath);
  if ((summaryJson as { format?: unknown } | null)?.format === 'hitloop-experiment-summary/1') {
    throw new ConfigError({
      file: summaryPath,
      problem:
        'was written by an earlier hitloop (one document with the settings; now summary.json is keyed by condition and the settings are in manifest.json)',
      fix: 'rerun the same `hitloop experiment` command with --fresh to rewrite it',
    });
  }
  // A summary.json alone (the seed's, or one copied without its manifest)
  // lacks the settings and the condition order a report needs.
  const manifestJson = readJson(manifestPath);
  const manifest = ExperimentManifest.safeParse(manifestJson);
  if (!manifest.success) throw configErrorFromZod(manifest.error, manifestPath);
  const conditions = SummaryFile.safeParse(summaryJson);
  if (!conditions.success) throw configErrorFromZod(conditions.error, summaryPath);
  for (const name of manifest.data.condition_order) {
    if (!conditions.data[name]) {
      throw new ConfigError({
        file: summaryPath,
        field: name,
        problem: `condition "${name}" (listed in manifest.json) is missing`,
        fix: 'rerun `hitloop experiment` with the same arguments to rewrite it',
      });
    }
  }
  const { format: _format, files: _files, ...settings } = manifest.data;
  return { ...settings, conditions: conditions.data };
}
