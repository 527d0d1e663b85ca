import { z } from 'zod';
import { ErrorType } from './types.js';

/**
 * One trial's outcome: one line of the resume journal, and (through
 * {@link resultsRow}) one row of `results.csv`. Every field is a pure function of the seed and
 * the configuration (no timestamps, no measured times), which is what makes
 * two runs with one seed byte-identical.
 *
 * @example
 * const record = TrialRecord.parse(JSON.parse(journalLine));
 */
export const TrialRecord = z
  .object({
    /** `<condition>:<task_id>`, unique within an experiment. */
    trial_id: z.string(),
    /** The trial's telemetry run id (`exp-<fingerprint>:<trial_id>`), the key to join with telemetry.db. */
    run_id: z.string(),
    condition: z.string(),
    /** The condition's policy (`always_approve`, `risk_based`, ...). */
    policy_name: z.string(),
    scenario: z.string(),
    trial_index: z.number().int().nonnegative(),
    task_id: z.string(),
    /** Ground truth, joined in after the trial: was a mistake planted? */
    injected: z.boolean(),
    error_type: ErrorType.nullable(),
    tool_name: z.string(),
    risk_class: z.string(),
    policy_verdict: z.enum(['allow', 'ask', 'deny']),
    policy_rule: z.string().nullable(),
    /** The policy said `ask`, so a reviewer was asked. */
    approval_requested: z.boolean(),
    /** The reviewer's answer; null when nobody was asked. */
    approved: z.boolean().nullable(),
    /** `policy` when the policy decided alone, else the decision's `decidedBy`. */
    decided_by: z.string(),
    /** The reviewer's decision time; null when nobody was asked. */
    human_latency_ms: z.number().nonnegative().nullable(),
    /** The tool was called (allowed, or approved). */
    executed: z.boolean(),
    /** The tool was called and failed (unknown tool, rejected arguments, runtime error). */
    tool_failure: z.boolean(),
    /** The intended task got done: the scenario's check of the real side effects passed. */
    completed: z.boolean(),
    /**
     * The seed's `task_success`: the trial ended correctly. A correct action
     * ran and did the task (`completed`), or a planted mistake was stopped.
     */
    task_success: z.boolean(),
    /** A planted mistake was stopped before it ran (`injected && !executed`). */
    error_caught: z.boolean(),
    /** A planted mistake ran (`injected && executed`). */
    harm: z.boolean(),
    /** The validation's problems, `; `-separated; empty on success. */
    validation_problems: z.string(),
  })
  .strict();
export type TrialRecord = z.infer<typeof TrialRecord>;

/**
 * The Python hitloop's `results.csv` columns, in its order
 * (`MetricsCalculator.export_results_csv`).
 *
 * @example
 * SEED_RESULTS_COLUMNS.length // 15
 */
export const SEED_RESULTS_COLUMNS = [
  'run_id',
  'scenario_id',
  'condition_id',
  'policy_name',
  'seed',
  'task_success',
  'approval_requested',
  'approval_granted',
  'human_latency_ms',
  'time_to_complete_ms',
  'injected_error',
  'error_caught',
  'tool_failure',
  'tokens_used',
  'llm_calls',
] as const;

/**
 * hitloop's columns after the seed's, in order.
 *
 * @example
 * EXTRA_RESULTS_COLUMNS.includes('harm') // true
 */
export const EXTRA_RESULTS_COLUMNS = [
  'trial_id',
  'trial_index',
  'task_id',
  'error_type',
  'tool_name',
  'risk_class',
  'policy_verdict',
  'policy_rule',
  'approved',
  'decided_by',
  'executed',
  'completed',
  'harm',
  'validation_problems',
] as const;

/**
 * The columns of `results.csv`, in order: the seed's 15, then ours.
 *
 * @example
 * RESULTS_COLUMNS.join(',') // the CSV header
 */
export const RESULTS_COLUMNS = [...SEED_RESULTS_COLUMNS, ...EXTRA_RESULTS_COLUMNS] as const;
/**
 * One column of `results.csv`.
 *
 * @example
 * const column: ResultsColumn = 'task_success';
 */
export type ResultsColumn = (typeof RESULTS_COLUMNS)[number];

/**
 * One `results.csv` row as values, keyed by column. The seed's columns carry
 * the seed's values: booleans as 0/1, `approval_granted` 1 when the action
 * was allowed to run (the seed's default when nobody was asked),
 * `human_latency_ms` 0 when nobody was asked. Columns the simulation does
 * not measure are 0 as in the seed when it had no data:
 * `time_to_complete_ms` (no wall-clock times, so results are byte-identical),
 * `tokens_used` and `llm_calls` (the simulated agent makes no LLM calls).
 *
 * @example
 * resultsRow(record, 42).task_success // 1
 */
export function resultsRow(
  r: TrialRecord,
  seed: number | string,
): Record<ResultsColumn, string | number | null> {
  const bit = (b: boolean) => (b ? 1 : 0);
  return {
    run_id: r.run_id,
    scenario_id: r.scenario,
    condition_id: r.condition,
    policy_name: r.policy_name,
    seed,
    task_success: bit(r.task_success),
    approval_requested: bit(r.approval_requested),
    approval_granted: bit(r.executed),
    human_latency_ms: r.human_latency_ms ?? 0,
    time_to_complete_ms: 0,
    injected_error: bit(r.injected),
    error_caught: bit(r.error_caught),
    tool_failure: bit(r.tool_failure),
    tokens_used: 0,
    llm_calls: 0,
    trial_id: r.trial_id,
    trial_index: r.trial_index,
    task_id: r.task_id,
    error_type: r.error_type,
    tool_name: r.tool_name,
    risk_class: r.risk_class,
    policy_verdict: r.policy_verdict,
    policy_rule: r.policy_rule,
    approved: r.approved === null ? null : bit(r.approved),
    decided_by: r.decided_by,
    executed: bit(r.executed),
    completed: bit(r.completed),
    harm: bit(r.harm),
    validation_problems: r.validation_problems,
  };
}

/**
 * Columns the seed wrote as Python floats (`round(x, 2)`, so `8123.0`).
 *
 * @example
 * FLOAT_RESULTS_COLUMNS.has('human_latency_ms') // true
 */
export const FLOAT_RESULTS_COLUMNS: ReadonlySet<ResultsColumn> = new Set([
  'human_latency_ms',
  'time_to_complete_ms',
]);
