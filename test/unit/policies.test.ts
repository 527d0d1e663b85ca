import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type ActionInput, createAction } from '../../shared/models/action.js';
import { AlwaysApprovePolicy } from '../../shared/policies/always-approve.js';
import { AuditPlusEscalatePolicy } from '../../shared/policies/audit-plus-escalate.js';
import { fromApprovalPredicate, shouldRequestApproval } from '../../shared/policies/policy.js';
import { RiskBasedPolicy } from '../../shared/policies/risk-based.js';

const act = (input: Partial<ActionInput> = {}) =>
  createAction({ toolName: 'noop', toolArgs: {}, ...input });

describe('AlwaysApprovePolicy', () => {
  it('allows everything, including high-risk actions', () => {
    const p = new AlwaysApprovePolicy();
    expect(p.evaluate().verdict).toBe('allow');
    expect(p.name).toBe('always_approve');
  });
});

describe('RiskBasedPolicy', () => {
  it('asks for high risk by default and allows low and medium', () => {
    const p = new RiskBasedPolicy();
    expect(p.evaluate(act({ riskClass: 'high' }))).toMatchObject({
      verdict: 'ask',
      rule: 'risk_high',
    });
    expect(p.evaluate(act({ riskClass: 'medium' })).verdict).toBe('allow');
    expect(p.evaluate(act({ riskClass: 'low' })).verdict).toBe('allow');
  });
  it('honours requireApprovalForHigh=false and requireApprovalForMedium=true', () => {
    const p = new RiskBasedPolicy({
      requireApprovalForHigh: false,
      requireApprovalForMedium: true,
    });
    expect(p.evaluate(act({ riskClass: 'high' })).verdict).toBe('allow');
    expect(p.evaluate(act({ riskClass: 'medium' }))).toMatchObject({
      verdict: 'ask',
      rule: 'risk_medium',
    });
  });
  it('asks for tools on the high-risk list whatever their declared risk', () => {
    const p = new RiskBasedPolicy({ highRiskTools: ['delete_record'] });
    const d = p.evaluate(act({ toolName: 'delete_record', riskClass: 'low' }));
    expect(d).toMatchObject({ verdict: 'ask', rule: 'high_risk_tool' });
    expect(d.reason).toContain('delete_record');
    expect(p.evaluate(act({ toolName: 'delete_record_log' })).verdict).toBe('allow');
  });
  it('asks when an amount exceeds the threshold, including numeric strings', () => {
    const p = new RiskBasedPolicy({ amountThreshold: 1000 });
    expect(p.evaluate(act({ toolArgs: { amount: 1000 } })).verdict).toBe('allow');
    expect(p.evaluate(act({ toolArgs: { amount: 1000.01 } }))).toMatchObject({
      verdict: 'ask',
      rule: 'amount_threshold',
    });
    expect(p.evaluate(act({ toolArgs: { amount: '2,500' } })).verdict).toBe('ask');
    expect(p.evaluate(act({ toolArgs: { amount: 'lots' } })).verdict).toBe('allow');
    const custom = new RiskBasedPolicy({ amountThreshold: 10, amountKeys: ['total'] });
    expect(custom.evaluate(act({ toolArgs: { total: 11, amount: 1 } })).verdict).toBe('ask');
  });
  it('finds sensitive patterns in nested keys and values, case-insensitively', () => {
    const p = new RiskBasedPolicy();
    expect(p.evaluate(act({ toolArgs: { body: 'my PASSWORD is hunter2' } }))).toMatchObject({
      verdict: 'ask',
      rule: 'sensitive_pattern',
    });
    expect(p.evaluate(act({ toolArgs: { headers: [{ 'X-Api-Key': 'abc' }] } })).verdict).toBe(
      'ask',
    );
    expect(p.evaluate(act({ toolArgs: { body: 'lunch at noon?' } })).verdict).toBe('allow');
    const none = new RiskBasedPolicy({ sensitivePatterns: [] });
    expect(none.evaluate(act({ toolArgs: { password: 'x' } })).verdict).toBe('allow');
  });
  it('rejects an invalid regular expression when constructed', () => {
    expect(() => new RiskBasedPolicy({ sensitivePatterns: ['(unclosed'] })).toThrow(
      /regular expression/,
    );
  });
  it('rejects unknown options', () => {
    expect(() => new RiskBasedPolicy({ amountTreshold: 5 } as never)).toThrow();
  });
});

describe('AuditPlusEscalatePolicy', () => {
  const base = { auditSampleRate: 0, consecutiveActionThreshold: 0 };

  it('escalates high risk by default and medium only when asked', () => {
    const p = new AuditPlusEscalatePolicy(base);
    expect(p.evaluate(act({ riskClass: 'high' }))).toMatchObject({
      verdict: 'ask',
      rule: 'escalate_high',
    });
    expect(p.evaluate(act({ riskClass: 'medium' })).verdict).toBe('allow');
    const m = new AuditPlusEscalatePolicy({
      ...base,
      escalateOnMedium: true,
      escalateOnHigh: false,
    });
    expect(m.evaluate(act({ riskClass: 'medium' })).verdict).toBe('ask');
    expect(m.evaluate(act({ riskClass: 'high' })).verdict).toBe('allow');
  });
  it('escalates on anomaly signals in arguments or rationale, and on reported anomalies', () => {
    const p = new AuditPlusEscalatePolicy({
      ...base,
      anomalySignals: ['urgent', 'wire\\s+transfer'],
    });
    expect(p.evaluate(act({ toolArgs: { subject: 'URGENT: pay now' } }))).toMatchObject({
      verdict: 'ask',
      rule: 'anomaly',
    });
    expect(p.evaluate(act({ rationale: 'do a wire  transfer' })).verdict).toBe('ask');
    expect(p.evaluate(act({ toolArgs: { subject: 'weekly report' } })).verdict).toBe('allow');
    expect(p.evaluate(act(), { anomalies: ['new recipient'] }).reason).toContain('new recipient');
  });
  it('reviews the action after a streak of unreviewed ones, per run', () => {
    const p = new AuditPlusEscalatePolicy({ auditSampleRate: 0, consecutiveActionThreshold: 3 });
    const verdicts = Array.from({ length: 8 }, () => p.evaluate(act(), { runId: 'r1' }).verdict);
    expect(verdicts).toEqual(['allow', 'allow', 'allow', 'ask', 'allow', 'allow', 'allow', 'ask']);
    // Another run has its own streak.
    expect(p.evaluate(act(), { runId: 'r2' }).verdict).toBe('allow');
    // A human review (high risk) resets the streak.
    const q = new AuditPlusEscalatePolicy({ auditSampleRate: 0, consecutiveActionThreshold: 2 });
    expect(q.evaluate(act(), { runId: 'r' }).verdict).toBe('allow');
    expect(q.evaluate(act({ riskClass: 'high' }), { runId: 'r' }).verdict).toBe('ask');
    expect(q.evaluate(act(), { runId: 'r' }).verdict).toBe('allow');
    expect(q.evaluate(act(), { runId: 'r' }).verdict).toBe('allow');
    expect(q.evaluate(act(), { runId: 'r' }).reason).toContain('2 consecutive');
  });
  it('samples at the configured rate', () => {
    const p = new AuditPlusEscalatePolicy({
      auditSampleRate: 0.25,
      consecutiveActionThreshold: 0,
      seed: 7,
    });
    const n = 4000;
    let asked = 0;
    for (let i = 0; i < n; i++)
      if (p.evaluate(act(), { runId: `run-${i % 50}` }).verdict === 'ask') asked++;
    // 4000 draws at p=0.25: sd ~ 27, so +-5 sd is [865, 1135].
    expect(asked).toBeGreaterThan(865);
    expect(asked).toBeLessThan(1135);
  });

  it('samples without a seed too (the README snippet, new AuditPlusEscalatePolicy())', () => {
    // Unseeded sampling used randomInt(2 ** 48), which Node refuses with a
    // RangeError: every action that reached sampling threw.
    expect(new AuditPlusEscalatePolicy().evaluate(act()).verdict).toMatch(/^(allow|ask)$/);
    const p = new AuditPlusEscalatePolicy({ auditSampleRate: 0.5, consecutiveActionThreshold: 0 });
    const verdicts = new Set<string>();
    let asked = 0;
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const { verdict, rule } = p.evaluate(act(), { runId: `r${i % 7}` });
      verdicts.add(verdict);
      if (rule === 'audit_sample') asked++;
    }
    expect([...verdicts].sort()).toEqual(['allow', 'ask']);
    // 2000 draws at p=0.5: sd ~ 22, so +-6 sd is [866, 1134].
    expect(asked).toBeGreaterThan(866);
    expect(asked).toBeLessThan(1134);
  });

  const sampleVerdicts = (seed: number, order: 'forward' | 'interleaved') => {
    const p = new AuditPlusEscalatePolicy({
      auditSampleRate: 0.3,
      consecutiveActionThreshold: 0,
      seed,
    });
    const out: Record<string, string[]> = { a: [], b: [] };
    const runs =
      order === 'forward'
        ? ['a', 'a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'b']
        : ['b', 'a', 'b', 'a', 'a', 'b', 'a', 'b', 'b', 'a', 'a', 'b'];
    for (const run of runs) out[run]!.push(p.evaluate(act(), { runId: run }).verdict);
    return out;
  };

  it('gives the same decisions for the same seed, even when runs interleave differently', () => {
    expect(sampleVerdicts(42, 'forward')).toEqual(sampleVerdicts(42, 'interleaved'));
    const many = (seed: number) => {
      const p = new AuditPlusEscalatePolicy({
        auditSampleRate: 0.3,
        consecutiveActionThreshold: 0,
        seed,
      });
      return Array.from({ length: 200 }, () => p.evaluate(act(), { runId: 'x' }).verdict).join(',');
    };
    expect(many(42)).toBe(many(42));
    expect(many(42)).not.toBe(many(43));
  });

  it('gives the same decisions in another process', () => {
    const lib = new URL('../../dist/shared/policies/audit-plus-escalate.js', import.meta.url).href;
    const models = new URL('../../dist/shared/models/action.js', import.meta.url).href;
    const code = `
      const { AuditPlusEscalatePolicy } = await import(${JSON.stringify(lib)});
      const { createAction } = await import(${JSON.stringify(models)});
      const p = new AuditPlusEscalatePolicy({ auditSampleRate: 0.3, consecutiveActionThreshold: 0, seed: 42 });
      const out = [];
      for (let i = 0; i < 200; i++) out.push(p.evaluate(createAction({ toolName: 'noop', toolArgs: {} }), { runId: 'x' }).verdict);
      process.stdout.write(out.join(','));`;
    const other = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      encoding: 'utf8',
    });
    const p = new AuditPlusEscalatePolicy({
      auditSampleRate: 0.3,
      consecutiveActionThreshold: 0,
      seed: 42,
    });
    const here = Array.from({ length: 200 }, () => p.evaluate(act(), { runId: 'x' }).verdict).join(
      ',',
    );
    expect(other).toBe(here);
    expect(here).toContain('ask');
    expect(here).toContain('allow');
  });

  it('validates its options', () => {
    expect(() => new AuditPlusEscalatePolicy({ auditSampleRate: 1.5 })).toThrow(/between 0 and 1/);
    expect(() => new AuditPlusEscalatePolicy({ anomalySignals: ['[bad'] })).toThrow(
      /regular expression/,
    );
  });
});

describe('the two-valued seed interface', () => {
  it('maps a predicate to ask/allow and back', async () => {
    const p = fromApprovalPredicate('big', (a) =>
      Number(a.toolArgs.amount) > 100 ? [true, 'big'] : [false, 'small'],
    );
    expect(await shouldRequestApproval(p, act({ toolArgs: { amount: 500 } }))).toEqual({
      required: true,
      reason: 'big',
      verdict: 'ask',
    });
    expect((await shouldRequestApproval(p, act({ toolArgs: { amount: 5 } }))).required).toBe(false);
  });
});
