import type { ApprovalBackend } from '../backends/backend.js';
import { AlwaysApprovePolicy } from '../policies/always-approve.js';
import { AuditPlusEscalatePolicy } from '../policies/audit-plus-escalate.js';
import type { HITLPolicy, PolicyDecision } from '../policies/policy.js';
import { RiskBasedPolicy } from '../policies/risk-based.js';
import type { InjectionConfig } from './injector.js';
import type { AnyScenario, ErrorType } from './types.js';

/**
 * One arm of an experiment: a scenario, how many trials, which mistakes at
 * what rate, and the oversight under test (a policy, and optionally its own
 * reviewer; otherwise the runner's simulated reviewer).
 *
 * `createPolicy` is a factory because policies keep per-session state (the
 * audit policy's unreviewed streak); each condition gets a fresh one.
 *
 * @example
 * const condition: ExperimentCondition = {
 *   name: 'strict_rules', description: 'asks for every write', scenario, nTrials: 100,
 *   injection: { rate: 0.2, seed: 42 }, createPolicy: () => new RulesPolicy({ default: 'ask', rules: [] }),
 * };
 */
export interface ExperimentCondition {
  /** A short identifier used in results.csv and summary.json (`[a-z0-9_-]`). */
  name: string;
  description: string;
  scenario: AnyScenario;
  nTrials: number;
  injection: InjectionConfig;
  createPolicy(): HITLPolicy;
  /** A reviewer for this condition only (e.g. a live channel); default: the runner's. */
  createReviewer?(): ApprovalBackend;
  /** How long a review may take before it counts as a timeout. Default: no limit. */
  reviewTimeoutMs?: number;
}

/**
 * The names of the four standard conditions, in their canonical order.
 *
 * @example
 * STANDARD_CONDITIONS.includes('risk_based') // true
 */
export const STANDARD_CONDITIONS = [
  'no_oversight',
  'risk_based',
  'audit_plus_escalate',
  'always_review',
] as const;
/**
 * One of {@link STANDARD_CONDITIONS}.
 *
 * @example
 * const name: StandardConditionName = 'always_review';
 */
export type StandardConditionName = (typeof STANDARD_CONDITIONS)[number];

const ASK: PolicyDecision = Object.freeze({
  verdict: 'ask',
  reason: 'always_review policy: a person reviews every action',
  rule: 'always_review',
});

/**
 * The full-oversight arm: every action goes to a person. Lives here rather
 * than among the policies because outside experiments `RulesPolicy` with
 * `default: 'ask'` says the same thing.
 *
 * @example
 * new AlwaysReviewPolicy().evaluate().verdict // 'ask'
 */
export class AlwaysReviewPolicy implements HITLPolicy {
  readonly name = 'always_review';
  evaluate(): PolicyDecision {
    return ASK;
  }
}

/**
 * Options for {@link createStandardConditions}.
 *
 * @example
 * const options: StandardConditionOptions = { seed: 7, errorTypes: ['wrong_recipient'], only: ['risk_based'] };
 */
export interface StandardConditionOptions {
  /** Seeds the injector and the audit sampling. Default 42. */
  seed?: number | string;
  /** Restricts the injected kinds; default every kind the scenario supports. */
  errorTypes?: ErrorType[];
  /** Share of otherwise-allowed actions the audit policy samples. Default 0.1. */
  auditSampleRate?: number;
  /** Which of the four to build, in this order. Default all four. */
  only?: readonly StandardConditionName[];
}

/**
 * The seed's four conditions, from no oversight to a person on every action:
 *
 * | name | policy | what a person sees |
 * | --- | --- | --- |
 * | `no_oversight` | AlwaysApprovePolicy | nothing; every action runs |
 * | `risk_based` | RiskBasedPolicy (high risk, sensitive-looking arguments, the scenario's high-risk tools and amount threshold) | risky actions |
 * | `audit_plus_escalate` | AuditPlusEscalatePolicy (10% seeded audit sample, the scenario's anomaly signals, high risk, every 10th unreviewed action) | a sample plus anything anomalous |
 * | `always_review` | AlwaysReviewPolicy | every action |
 *
 * All four see the same tasks with the same injected mistakes (a paired
 * design); only the oversight differs.
 *
 * @example
 * const conditions = createStandardConditions(new EmailDraftScenario(), 200, 0.2, { seed: 7 });
 * const results = await new ExperimentRunner({ seed: 7 }).run(conditions);
 */
export function createStandardConditions(
  scenario: AnyScenario,
  nTrials: number,
  injectionRate: number,
  options: StandardConditionOptions = {},
): ExperimentCondition[] {
  const seed = options.seed ?? 42;
  const injection: InjectionConfig = {
    rate: injectionRate,
    seed,
    ...(options.errorTypes ? { types: options.errorTypes } : {}),
  };
  const hints = scenario.policyHints;
  const all: Record<StandardConditionName, ExperimentCondition> = {
    no_oversight: {
      name: 'no_oversight',
      description: 'AlwaysApprovePolicy: every action runs without review',
      scenario,
      nTrials,
      injection,
      createPolicy: () => new AlwaysApprovePolicy(),
    },
    risk_based: {
      name: 'risk_based',
      description: 'RiskBasedPolicy: a person reviews high-risk or sensitive-looking actions',
      scenario,
      nTrials,
      injection,
      createPolicy: () =>
        new RiskBasedPolicy({
          highRiskTools: hints.highRiskTools,
          ...(hints.amountThreshold === undefined
            ? {}
            : { amountThreshold: hints.amountThreshold }),
        }),
    },
    audit_plus_escalate: {
      name: 'audit_plus_escalate',
      description: `AuditPlusEscalatePolicy: a seeded ${Math.round((options.auditSampleRate ?? 0.1) * 1000) / 10}% audit sample plus anomalies, high risk and long unreviewed streaks`,
      scenario,
      nTrials,
      injection,
      createPolicy: () =>
        new AuditPlusEscalatePolicy({
          auditSampleRate: options.auditSampleRate ?? 0.1,
          anomalySignals: hints.anomalySignals,
          escalateOnHigh: true,
          consecutiveActionThreshold: 10,
          seed,
        }),
    },
    always_review: {
      name: 'always_review',
      description: 'AlwaysReviewPolicy: a person reviews every action',
      scenario,
      nTrials,
      injection,
      createPolicy: () => new AlwaysReviewPolicy(),
    },
  };
  return (options.only ?? STANDARD_CONDITIONS).map((name) => all[name]);
}
