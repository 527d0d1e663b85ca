import type { HITLPolicy, PolicyDecision } from './policy.js';

const ALLOW: PolicyDecision = Object.freeze({
  verdict: 'allow',
  reason: 'always_approve policy: every action runs without review',
  rule: 'always_approve',
});

/**
 * The no-oversight baseline: every action is allowed. Useful as the control
 * condition in experiments and for read-only servers.
 *
 * @example
 * const policy = new AlwaysApprovePolicy();
 * policy.evaluate(action).verdict // 'allow'
 */
export class AlwaysApprovePolicy implements HITLPolicy {
  readonly name = 'always_approve';
  evaluate(): PolicyDecision {
    return ALLOW;
  }
}
