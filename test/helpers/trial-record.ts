import type { TrialRecord } from '../../shared/eval/trial-record.js';

/**
 * A valid trial record for tests: an email_draft trial the policy allowed,
 * executed cleanly, with nothing planted; `fields` replaces any column.
 *
 * @example
 * const planted = trialRecord({ condition: 'risk_based', injected: true, error_type: 'wrong_amount' });
 */
export function trialRecord(fields: Partial<TrialRecord> = {}): TrialRecord {
  return {
    trial_id: 'c:t0',
    run_id: 'c:t0',
    condition: 'c',
    policy_name: 'c',
    scenario: 'email_draft',
    trial_index: 0,
    task_id: 't0',
    injected: false,
    error_type: null,
    tool_name: 'send_email',
    risk_class: 'high',
    policy_verdict: 'allow',
    policy_rule: null,
    approval_requested: false,
    approved: null,
    decided_by: 'policy',
    human_latency_ms: null,
    executed: true,
    tool_failure: false,
    completed: true,
    task_success: true,
    error_caught: false,
    harm: false,
    validation_problems: '',
    ...fields,
  };
}
