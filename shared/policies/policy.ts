import type { Action } from '../models/action.js';
import type { RiskClass } from '../models/risk.js';

/** What a policy says about an action. */
export type Verdict = 'allow' | 'ask' | 'deny';

/**
 * A policy's answer: the verdict, a reason a person can read, and (for rule
 * based policies) which rule produced it.
 */
export interface PolicyDecision {
  verdict: Verdict;
  reason: string;
  /** Identifies the rule or check that produced the verdict, e.g. `rules[3]` or `high_risk_tool`. */
  rule?: string;
  /** The risk the policy worked with, when it differs from the action's own. */
  riskClass?: RiskClass;
}

/**
 * Context a caller may give a policy. `runId` lets stateful policies
 * (consecutive-action counts, audit sampling) keep their state per run.
 */
export interface PolicyContext {
  runId?: string;
  /** Anomalies detected outside the policy (e.g. by a scenario or a monitor). */
  anomalies?: readonly string[];
  [key: string]: unknown;
}

/**
 * The port every policy implements. `evaluate` may be synchronous (all
 * built-in policies are, to keep the allowed-call path fast) or async.
 *
 * @example
 * // A custom policy in one file:
 * export class NoFridayDeploys implements HITLPolicy {
 *   readonly name = 'no_friday_deploys';
 *   evaluate(action: Action): PolicyDecision {
 *     if (action.toolName === 'deploy' && new Date().getDay() === 5)
 *       return { verdict: 'deny', reason: 'no deploys on Friday' };
 *     return { verdict: 'allow', reason: 'not a Friday deploy' };
 *   }
 * }
 */
export interface HITLPolicy {
  readonly name: string;
  evaluate(action: Action, context?: PolicyContext): PolicyDecision | Promise<PolicyDecision>;
}

/**
 * The seed's two-valued question, answered from a three-valued policy:
 * `ask` requires approval, `allow` does not. A `deny` also returns `true`
 * (the action must not run unattended); check `verdict` to tell them apart.
 *
 * @example
 * const { required, reason } = await shouldRequestApproval(policy, action);
 */
export async function shouldRequestApproval(
  policy: HITLPolicy,
  action: Action,
  context?: PolicyContext,
): Promise<{ required: boolean; reason: string; verdict: Verdict }> {
  const decision = await policy.evaluate(action, context);
  return {
    required: decision.verdict !== 'allow',
    reason: decision.reason,
    verdict: decision.verdict,
  };
}

/**
 * Adapts a seed-style predicate (`shouldRequestApproval(action) -> [bool, reason]`)
 * into a HITLPolicy: `true` becomes `ask`, `false` becomes `allow`.
 *
 * @example
 * const policy = fromApprovalPredicate('big_amounts', (a) =>
 *   Number(a.toolArgs.amount) > 100 ? [true, 'amount over 100'] : [false, 'small amount']);
 */
export function fromApprovalPredicate(
  name: string,
  predicate: (action: Action, context?: PolicyContext) => readonly [boolean, string],
): HITLPolicy {
  return {
    name,
    evaluate(action, context) {
      const [required, reason] = predicate(action, context);
      return { verdict: required ? 'ask' : 'allow', reason };
    },
  };
}
