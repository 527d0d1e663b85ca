import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Action } from '../models/action.js';
import { uniformFromKey } from '../util/seeded-hash.js';
import { findString } from './args-scan.js';
import type { HITLPolicy, PolicyContext, PolicyDecision } from './policy.js';
import { Rate, RegexSource } from './schema-helpers.js';

/** Options of AuditPlusEscalatePolicy, with the seed's defaults. */
export const AuditPlusEscalateOptions = z
  .object({
    /** Share of otherwise-allowed actions sent to a human as a spot check. */
    auditSampleRate: Rate.default(0.1),
    /**
     * Case-insensitive regular expressions; a match in any argument key, string
     * value or the rationale is an anomaly and escalates.
     */
    anomalySignals: z.array(RegexSource).default([]),
    escalateOnHigh: z.boolean().default(true),
    escalateOnMedium: z.boolean().default(false),
    /** After this many actions in a row ran without review, the next one is reviewed. 0 disables. */
    consecutiveActionThreshold: z.number().int().min(0).default(10),
    /** Makes audit sampling reproducible: same seed, same decisions, in every process. */
    seed: z.union([z.number(), z.string()]).optional(),
  })
  .strict();
export type AuditPlusEscalateOptions = z.input<typeof AuditPlusEscalateOptions>;

/**
 * Lets most actions run but audits a random sample and escalates anything
 * anomalous, high-risk, or at the end of a long unreviewed streak.
 *
 * Sampling is keyed, not sequential: the Nth action of run R is sampled when
 * `uniformFromKey(seed|R|N) < auditSampleRate`. So a seed reproduces the same
 * decisions in any process, even when runs interleave differently.
 *
 * @example
 * const policy = new AuditPlusEscalatePolicy({ auditSampleRate: 0.2, seed: 42, anomalySignals: ['urgent', 'wire transfer'] });
 * await policy.evaluate(action, { runId: 'trial-7' });
 */
export class AuditPlusEscalatePolicy implements HITLPolicy {
  readonly name = 'audit_plus_escalate';
  readonly options: z.output<typeof AuditPlusEscalateOptions>;
  private readonly anomaly: RegExp | undefined;
  private readonly seedKey: string | undefined;
  private readonly indexByRun = new Map<string, number>();
  private readonly streakByRun = new Map<string, number>();

  constructor(options: AuditPlusEscalateOptions = {}) {
    this.options = AuditPlusEscalateOptions.parse(options);
    const signals = this.options.anomalySignals;
    this.anomaly = signals.length
      ? new RegExp(signals.map((s) => `(?:${s})`).join('|'), 'i')
      : undefined;
    this.seedKey = this.options.seed === undefined ? undefined : String(this.options.seed);
  }

  evaluate(action: Action, context: PolicyContext = {}): PolicyDecision {
    const runId = context.runId ?? '';
    const index = this.indexByRun.get(runId) ?? 0;
    this.indexByRun.set(runId, index + 1);
    const decision = this.decide(action, context, runId, index);
    // A human review (ask) ends the unreviewed streak; an allowed action extends it.
    this.streakByRun.set(
      runId,
      decision.verdict === 'allow' ? (this.streakByRun.get(runId) ?? 0) + 1 : 0,
    );
    return decision;
  }

  /** Forgets the per-run counters (call when a run ends to bound memory). */
  resetRun(runId: string): void {
    this.indexByRun.delete(runId);
    this.streakByRun.delete(runId);
  }

  private decide(
    action: Action,
    context: PolicyContext,
    runId: string,
    index: number,
  ): PolicyDecision {
    const o = this.options;
    if (context.anomalies && context.anomalies.length > 0) {
      return {
        verdict: 'ask',
        reason: `anomaly reported: ${context.anomalies.join(', ')}`,
        rule: 'anomaly',
      };
    }
    const anomaly = this.anomaly;
    if (anomaly) {
      const test = (s: string) => anomaly.test(s);
      const hit =
        findString(action.toolArgs, test) ??
        (test(action.rationale) ? action.rationale : undefined);
      if (hit !== undefined) {
        const signal = hit.match(anomaly)?.[0] ?? '';
        return {
          verdict: 'ask',
          reason: `anomaly signal '${signal}' in the action`,
          rule: 'anomaly',
        };
      }
    }
    if (action.riskClass === 'high' && o.escalateOnHigh) {
      return {
        verdict: 'ask',
        reason: 'high-risk action escalated to a human',
        rule: 'escalate_high',
      };
    }
    if (action.riskClass === 'medium' && o.escalateOnMedium) {
      return {
        verdict: 'ask',
        reason: 'medium-risk action escalated to a human',
        rule: 'escalate_medium',
      };
    }
    const streak = this.streakByRun.get(runId) ?? 0;
    if (o.consecutiveActionThreshold > 0 && streak >= o.consecutiveActionThreshold) {
      return {
        verdict: 'ask',
        reason: `${streak} consecutive actions ran without review`,
        rule: 'consecutive_actions',
      };
    }
    if (o.auditSampleRate > 0 && this.draw(runId, index) < o.auditSampleRate) {
      return {
        verdict: 'ask',
        reason: `randomly sampled for audit (rate ${o.auditSampleRate})`,
        rule: 'audit_sample',
      };
    }
    return {
      verdict: 'allow',
      reason: 'not sampled for audit, no escalation signal',
      rule: 'default_allow',
    };
  }

  private draw(runId: string, index: number): number {
    // 48 random bits, uniform in [0, 1). (randomInt cannot give them: its
    // range must be below 2**48, so randomInt(2 ** 48) throws a RangeError.)
    if (this.seedKey === undefined) return randomBytes(6).readUIntBE(0, 6) / 2 ** 48;
    return uniformFromKey(`${this.seedKey}|${runId}|${index}`);
  }
}
