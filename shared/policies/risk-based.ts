import { z } from 'zod';
import type { Action } from '../models/action.js';
import { asNumber, findString } from './args-scan.js';
import type { HITLPolicy, PolicyDecision } from './policy.js';
import { RegexSource } from './schema-helpers.js';

/** Options of RiskBasedPolicy, with the seed's defaults. */
export const RiskBasedOptions = z
  .object({
    requireApprovalForHigh: z.boolean().default(true),
    requireApprovalForMedium: z.boolean().default(false),
    /** Tool names that always need approval, whatever their declared risk. */
    highRiskTools: z.array(z.string()).default([]),
    /** Case-insensitive regular expressions matched against argument keys and string values. */
    sensitivePatterns: z
      .array(RegexSource)
      .default([
        'password',
        'passwd',
        'secret',
        'api[_-]?key',
        'token',
        '\\bssn\\b',
        'credit[_ ]?card',
      ]),
    /** An argument named in `amountKeys` above this value needs approval. */
    amountThreshold: z.number().optional(),
    amountKeys: z.array(z.string()).default(['amount']),
  })
  .strict();
export type RiskBasedOptions = z.input<typeof RiskBasedOptions>;

/**
 * Asks for approval by risk: high-risk actions (and medium ones when
 * configured), tools on the high-risk list, arguments that look sensitive,
 * and amounts over a threshold. Everything else is allowed.
 *
 * @example
 * const policy = new RiskBasedPolicy({ highRiskTools: ['delete_record'], amountThreshold: 1000 });
 * policy.evaluate(createAction({ toolName: 'refund', toolArgs: { amount: 5000 } })).verdict // 'ask'
 */
export class RiskBasedPolicy implements HITLPolicy {
  readonly name = 'risk_based';
  readonly options: z.output<typeof RiskBasedOptions>;
  private readonly highRiskTools: ReadonlySet<string>;
  private readonly sensitive: RegExp | undefined;

  constructor(options: RiskBasedOptions = {}) {
    this.options = RiskBasedOptions.parse(options);
    this.highRiskTools = new Set(this.options.highRiskTools);
    // One alternation compiled once: a single regex pass per string is far
    // cheaper than one pass per pattern.
    const patterns = this.options.sensitivePatterns;
    this.sensitive = patterns.length
      ? new RegExp(patterns.map((p) => `(?:${p})`).join('|'), 'i')
      : undefined;
  }

  evaluate(action: Action): PolicyDecision {
    const o = this.options;
    if (this.highRiskTools.has(action.toolName)) {
      return {
        verdict: 'ask',
        reason: `tool '${action.toolName}' is on the high-risk list`,
        rule: 'high_risk_tool',
      };
    }
    if (action.riskClass === 'high' && o.requireApprovalForHigh) {
      return { verdict: 'ask', reason: 'high-risk action requires approval', rule: 'risk_high' };
    }
    if (action.riskClass === 'medium' && o.requireApprovalForMedium) {
      return {
        verdict: 'ask',
        reason: 'medium-risk action requires approval',
        rule: 'risk_medium',
      };
    }
    if (o.amountThreshold !== undefined) {
      for (const key of o.amountKeys) {
        const amount = asNumber(action.toolArgs[key]);
        if (amount !== undefined && amount > o.amountThreshold) {
          return {
            verdict: 'ask',
            reason: `${key} ${amount} exceeds the threshold of ${o.amountThreshold}`,
            rule: 'amount_threshold',
          };
        }
      }
    }
    const sensitive = this.sensitive;
    if (sensitive) {
      const hit = findString(action.toolArgs, (s) => sensitive.test(s));
      if (hit !== undefined) {
        const match = hit.match(sensitive)?.[0] ?? '';
        return {
          verdict: 'ask',
          reason: `arguments look sensitive (matched '${match}')`,
          rule: 'sensitive_pattern',
        };
      }
    }
    return {
      verdict: 'allow',
      reason: `${action.riskClass}-risk action within policy limits`,
      rule: 'default_allow',
    };
  }
}
