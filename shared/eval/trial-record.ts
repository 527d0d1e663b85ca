import { z } from 'zod';
import { ErrorType } from './types.js';

/**
 * One trial's outcome: one row of `results.csv` and one line of the resume
 * journal. Keys are snake_case, as in the seed's results.csv, so analysis
 * written for it reads ours. Every field is a pure function of the seed and
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
    condition: z.string(),
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
    /** The scenario's check of the real side effects passed. */
    success: z.boolean(),
    /** A planted mistake was stopped before it ran (`injected && !executed`). */
    error_caught: z.boolean(),
    /** The validation's problems, `; `-separated; empty on success. */
    validation_problems: z.string(),
  })
  .strict();
export type TrialRecord = z.infer<typeof TrialRecord>;

/**
 * The columns of `results.csv`, in order (the TrialRecord keys).
 *
 * @example
 * RESULTS_COLUMNS.join(',') // the CSV header
 */
export const RESULTS_COLUMNS = Object.keys(TrialRecord.shape) as ReadonlyArray<keyof TrialRecord>;
