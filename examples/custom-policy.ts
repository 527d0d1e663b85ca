// A custom policy is one file implementing HITLPolicy. In your project, import
// from 'hitloop'; this example imports the source so it builds in the repo.
//
// A module, not a program: `npm run build` compiles it to
// dist/examples/custom-policy.js; import ExternalEmailPolicy from there (or
// copy the class) and pass it as the `policy` of gateAction or withApproval.
import type { Action, HITLPolicy, PolicyContext, PolicyDecision } from '../shared/index.js';

/**
 * Asks a human before any email leaves the company domain, denies mail to
 * addresses on a block list, and lets internal mail through.
 */
export class ExternalEmailPolicy implements HITLPolicy {
  readonly name = 'external_email';

  constructor(
    private readonly companyDomain: string,
    private readonly blocked: readonly string[] = [],
  ) {}

  evaluate(action: Action, _context?: PolicyContext): PolicyDecision {
    if (action.toolName !== 'send_email') return { verdict: 'allow', reason: 'not an email' };
    const to = String(action.toolArgs.to ?? '').toLowerCase();
    if (this.blocked.includes(to))
      return { verdict: 'deny', reason: `${to} is blocked`, rule: 'blocked' };
    if (!to.endsWith(`@${this.companyDomain}`)) {
      return { verdict: 'ask', reason: `${to} is outside ${this.companyDomain}`, rule: 'external' };
    }
    return { verdict: 'allow', reason: 'internal recipient', rule: 'internal' };
  }
}
