import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, configErrorFromZod } from '../errors.js';
import {
  type ConditionMetrics,
  RATE_METRICS,
  type RateMetric,
  VALUE_METRICS,
  type ValueMetric,
} from './metrics.js';
import { RESULTS_COLUMNS, type TrialRecord } from './trial-record.js';

/**
 * File names an experiment writes into its `--out` directory.
 *
 * @example
 * join(outDir, EXPERIMENT_FILES.results) // 'out/results.csv'
 */
export const EXPERIMENT_FILES = {
  results: 'results.csv',
  summary: 'summary.json',
  journal: 'journal.jsonl',
  telemetry: 'telemetry.db',
  report: 'report.html',
} as const;

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = String(value);
  return /[",\r\n]/.test(text) || text.trim() !== text ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * `results.csv`: a header of {@link RESULTS_COLUMNS} and one row per trial,
 * in the order given (the runner gives condition order, then trial index).
 * Booleans are `true`/`false`, nulls are empty, text is quoted when it holds
 * a comma, quote or newline (RFC 4180), lines end with `\n`.
 *
 * @example
 * writeFileSync('results.csv', toResultsCsv(records));
 */
export function toResultsCsv(records: readonly TrialRecord[]): string {
  const lines = [RESULTS_COLUMNS.join(',')];
  for (const r of records) lines.push(RESULTS_COLUMNS.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\n')}\n`;
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

/**
 * One condition in `summary.json`: the seed's flat metric keys (a number, or
 * null when undefined, e.g. a catch rate with nothing injected), counts, and
 * `intervals` with a 95% interval per metric.
 *
 * @example
 * const c: ConditionSummary = summary.conditions.risk_based;
 * c.error_catch_rate; c.intervals.error_catch_rate?.low;
 */
export const ConditionSummary = z
  .object({
    description: z.string(),
    policy: z.string(),
    n_trials: z.number().int().nonnegative(),
    n_injected: z.number().int().nonnegative(),
    n_correct: z.number().int().nonnegative(),
    n_approval_requests: z.number().int().nonnegative(),
    n_executed: z.number().int().nonnegative(),
    n_successes: z.number().int().nonnegative(),
    success_rate: MetricValue,
    approval_rate: MetricValue,
    error_catch_rate: MetricValue,
    false_reject_rate: MetricValue,
    tool_failure_rate: MetricValue,
    human_latency_mean_ms: MetricValue,
    human_latency_p95_ms: MetricValue,
    cost_proxy: MetricValue,
    intervals: z.record(z.string(), Interval.nullable()),
  })
  .strict();
export type ConditionSummary = z.infer<typeof ConditionSummary>;

/**
 * The whole `summary.json`. Read back (by `hitloop report`) through this
 * schema, so a hand-edited or foreign file fails with the field at fault.
 *
 * @example
 * const summary = readSummary('results/');
 * summary.condition_order.map((name) => summary.conditions[name]!.success_rate);
 */
export const ExperimentSummary = z
  .object({
    format: z.literal('hitloop-experiment-summary/1'),
    scenario: z.string(),
    seed: z.union([z.number(), z.string()]),
    n_trials: z.number().int().nonnegative(),
    injection_rate: z.number().min(0).max(1),
    error_types: z.array(z.string()),
    reviewer: z.record(z.string(), z.unknown()),
    bootstrap_resamples: z.number().int().positive(),
    condition_order: z.array(z.string()),
    conditions: z.record(z.string(), ConditionSummary),
  })
  .strict();
export type ExperimentSummary = z.infer<typeof ExperimentSummary>;

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
 * Builds `summary.json`'s content from per-condition metrics.
 *
 * @example
 * const summary = buildSummary(metrics, { scenario: 'email_draft', seed: 42, ... });
 */
export function buildSummary(
  metrics: readonly ConditionMetrics[],
  meta: SummaryMeta,
): ExperimentSummary {
  const conditions: Record<string, ConditionSummary> = {};
  for (const m of metrics) {
    const info = meta.conditions.get(m.condition) ?? { description: '', policy: '' };
    const intervals: Record<string, SummaryInterval | null> = {};
    for (const key of RATE_METRICS) intervals[key] = rateInterval(m, key);
    for (const key of VALUE_METRICS) intervals[key] = valueInterval(m, key);
    conditions[m.condition] = {
      description: info.description,
      policy: info.policy,
      n_trials: m.n_trials,
      n_injected: m.n_injected,
      n_correct: m.n_correct,
      n_approval_requests: m.n_approval_requests,
      n_executed: m.n_executed,
      n_successes: m.n_successes,
      success_rate: m.success_rate.value,
      approval_rate: m.approval_rate.value,
      error_catch_rate: m.error_catch_rate.value,
      false_reject_rate: m.false_reject_rate.value,
      tool_failure_rate: m.tool_failure_rate.value,
      human_latency_mean_ms: m.human_latency_mean_ms.value,
      human_latency_p95_ms: m.human_latency_p95_ms.value,
      cost_proxy: m.cost_proxy.value,
      intervals,
    };
  }
  return {
    format: 'hitloop-experiment-summary/1',
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

function rateInterval(m: ConditionMetrics, key: RateMetric): SummaryInterval | null {
  const r = m[key];
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
 * Writes `results.csv` and `summary.json` into `dir`; returns their paths.
 *
 * @example
 * const { results, summary } = writeExperimentOutputs('out', records, summaryJson);
 */
export function writeExperimentOutputs(
  dir: string,
  records: readonly TrialRecord[],
  summary: ExperimentSummary,
): { results: string; summary: string } {
  const results = join(dir, EXPERIMENT_FILES.results);
  const summaryPath = join(dir, EXPERIMENT_FILES.summary);
  writeFileAtomic(results, toResultsCsv(records));
  writeFileAtomic(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  return { results, summary: summaryPath };
}

/**
 * Reads and validates `summary.json` from an experiment directory. Problems
 * become a ConfigError naming the file and the field.
 *
 * @example
 * const summary = readSummary('results/');
 */
export function readSummary(dir: string): ExperimentSummary {
  const path = join(dir, EXPERIMENT_FILES.summary);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError({
      file: path,
      problem: code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(err)})`,
      fix: 'pass the --out directory of a finished `hitloop experiment` run',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError({
      file: path,
      problem: `not valid JSON (${(err as Error).message})`,
      fix: 'rerun `hitloop experiment` with the same arguments to rewrite it',
    });
  }
  const parsed = ExperimentSummary.safeParse(json);
  if (!parsed.success) throw configErrorFromZod(parsed.error, path);
  for (const name of parsed.data.condition_order) {
    if (!parsed.data.conditions[name]) {
      throw new ConfigError({
        file: path,
        field: 'condition_order',
        problem: `names condition "${name}", which is missing from conditions`,
        fix: 'rerun `hitloop experiment` with the same arguments to rewrite it',
      });
    }
  }
  return parsed.data;
}
