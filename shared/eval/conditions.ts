import type { ApprovalBackend } from '../backends/backend.js';
import { AlwaysApprovePolicy } from '../policies/always-approve.js';
import { AuditPlusEscalatePolicy } from '../policies/audit-plus-escalate.js';
import type { HITLPolicy, PolicyDecision } from '../policies/policy.js';
import { RiskBasedPolicy } from '../policies/risk-based.js';
import { checkInjectionTypes, type InjectionConfig } from './injector.js';
import { SimulatedReviewer } from './reviewers.js';
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

/**
 * The Python hitloop's four standard conditions, under its names, in its
 * order (`--conditions seed`).
 *
 * @example
 * SEED_CONDITIONS[0] // 'always_approve'
 */
export const SEED_CONDITIONS = [
  'always_approve',
  'risk_based_auto',
  'risk_based_human',
  'audit_escalate',
] as const;
/**
 * One of {@link SEED_CONDITIONS}.
 *
 * @example
 * const name: SeedConditionName = 'risk_based_human';
 */
export type SeedConditionName = (typeof SEED_CONDITIONS)[number];

/**
 * Every condition name `createStandardConditions` can build: ours, then the seed's.
 *
 * @example
 * CONDITION_NAMES.includes('audit_escalate') // true
 */
export const CONDITION_NAMES = [...STANDARD_CONDITIONS, ...SEED_CONDITIONS] as const;
/**
 * One of {@link CONDITION_NAMES}.
 *
 * @example
 * const name: ConditionName = 'no_oversight';
 */
export type ConditionName = (typeof CONDITION_NAMES)[number];

/**
 * Named groups of conditions: `standard` (ours, the default) and `seed` (the
 * Python hitloop's four).
 *
 * @example
 * CONDITION_SETS.seed // ['always_approve', 'risk_based_auto', 'risk_based_human', 'audit_escalate']
 */
export const CONDITION_SETS: Readonly<Record<'standard' | 'seed', readonly ConditionName[]>> = {
  standard: STANDARD_CONDITIONS,
  seed: SEED_CONDITIONS,
};

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
  /**
   * Restricts the injected kinds (the seed's names work too:
   * `InjectionType.WRONG_RECIPIENT`); default every kind the scenario supports.
   */
  errorTypes?: readonly (ErrorType | string)[];
  /** Share of otherwise-allowed actions the audit policy samples. Default 0.1. */
  auditSampleRate?: number;
  /** Which to build, in this order: any of ours or the seed's. Default our four. */
  only?: readonly ConditionName[];
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
  // Checked here, not at the first trial: a kind this scenario cannot plant
  // (the seed's README asks for WRONG_RECORD_ID in an email scenario) fails now.
  const types = options.errorTypes ? checkInjectionTypes(scenario, options.errorTypes) : undefined;
  const injection: InjectionConfig = {
    rate: injectionRate,
    seed,
    ...(types ? { types: [...types] } : {}),
  };
  const hints = scenario.policyHints;
  const seedAuditRate = 0.3;
  const all: Record<ConditionName, ExperimentCondition> = {
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
    // The seed's four, as create_standard_conditions built them, except that
    // its scripted "humans" (a fixed approve/reject schedule, blind to the
    // action) are the runner's honest simulated reviewer.
    always_approve: {
      name: 'always_approve',
      description: "AlwaysApprovePolicy: every action runs without review (the seed's baseline)",
      scenario,
      nTrials,
      injection,
      createPolicy: () => new AlwaysApprovePolicy(),
    },
    risk_based_auto: {
      name: 'risk_based_auto',
      description:
        'RiskBasedPolicy (high and medium risk) with a reviewer who approves everything in 50 ms',
      scenario,
      nTrials,
      injection,
      createPolicy: () =>
        new RiskBasedPolicy({ requireApprovalForHigh: true, requireApprovalForMedium: true }),
      // The seed's AutoApproveBackend(delay_ms=50), with a fixed latency so
      // results stay byte-identical by seed.
      createReviewer: () =>
        new SimulatedReviewer(scenario, {
          seed,
          sensitivity: 0,
          specificity: 1,
          latency: { medianMs: 50, sigma: 0 },
          fatigue: { decayPerApproval: 0, floor: 0 },
        }),
    },
    risk_based_human: {
      name: 'risk_based_human',
      description: 'RiskBasedPolicy (high and medium risk) with the simulated reviewer',
      scenario,
      nTrials,
      injection,
      createPolicy: () =>
        new RiskBasedPolicy({ requireApprovalForHigh: true, requireApprovalForMedium: true }),
    },
    audit_escalate: {
      name: 'audit_escalate',
      description: `AuditPlusEscalatePolicy (a seeded ${seedAuditRate * 100}% audit sample, high risk) with the simulated reviewer`,
      scenario,
      nTrials,
      injection,
      createPolicy: () =>
        new AuditPlusEscalatePolicy({
          auditSampleRate: seedAuditRate,
          escalateOnHigh: true,
          seed,
        }),
    },
  };
  return (options.only ?? STANDARD_CONDITIONS).map((name) => all[name]);
}
