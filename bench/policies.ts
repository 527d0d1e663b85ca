import { type Action, createAction } from '../shared/models/action.js';
import { AlwaysApprovePolicy } from '../shared/policies/always-approve.js';
import { AuditPlusEscalatePolicy } from '../shared/policies/audit-plus-escalate.js';
import type { HITLPolicy } from '../shared/policies/policy.js';
import { RiskBasedPolicy } from '../shared/policies/risk-based.js';
import { RulesPolicy } from '../shared/policies/rules.js';
import type { Rule } from '../shared/policies/rules-schema.js';
import { type BenchRow, median } from './format.js';

/** A realistic mix: file tools, email, payments, shell, with a few sensitive arguments. */
function workload(toolCount: number): Action[] {
  const actions: Action[] = [];
  for (let i = 0; i < 1000; i++) {
    const tool = `tool_${i % toolCount}`;
    const kind = i % 5;
    const toolArgs =
      kind === 0
        ? { path: `/home/dev/project/src/file_${i}.ts`, content: 'export const x = 1;\n'.repeat(4) }
        : kind === 1
          ? { to: `user${i}@example.com`, subject: 'Weekly report', body: 'All green this week.' }
          : kind === 2
            ? { amount: (i * 37) % 5000, currency: 'EUR', account: `ACC-${i}` }
            : kind === 3
              ? { command: `git status --short ${i}`, cwd: '/home/dev/project' }
              : {
                  query: 'select * from customers where id = ?',
                  params: [i],
                  token: i % 20 === 4 ? 'secret' : 'none',
                };
    actions.push(
      createAction({
        toolName: kind === 0 ? `write_${tool}` : tool,
        toolArgs,
        riskClass: i % 7 === 0 ? 'high' : i % 3 === 0 ? 'medium' : 'low',
        server: `srv${i % 4}`,
      }),
    );
  }
  return actions;
}

/** 200 rules of the kinds people write: tool globs, path globs, regexes, numeric limits. */
export function twoHundredRules(): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < 200; i++) {
    const kind = i % 5;
    if (kind === 0)
      rules.push({
        tool: `write_tool_${i}*`,
        args: { path: { glob: `/home/dev/project/pkg${i}/**` } },
        effect: 'allow',
      });
    else if (kind === 1)
      rules.push({
        tool: `*_${i}`,
        args: { command: { regex: `^rm\\s+-rf\\s+/${i}` } },
        effect: 'deny',
      });
    else if (kind === 2)
      rules.push({ tool: `tool_${i % 50}`, args: { amount: { gt: 1000 + i } }, effect: 'ask' });
    else if (kind === 3) rules.push({ server: `srv${i % 4}`, tool: `tool_${i}?`, effect: 'ask' });
    else rules.push({ tool: `*delete*${i}`, effect: 'deny' });
  }
  return rules;
}

function decisionsPerSecond(
  policy: HITLPolicy,
  actions: readonly Action[],
  rounds = 5,
  perRound = 400_000,
): number {
  const ctx = { runId: 'bench' };
  const rates: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds + 1; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) {
      const d = policy.evaluate(actions[i % actions.length]!, ctx) as { verdict: string };
      sink += d.verdict.length;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (r > 0) rates.push(perRound / seconds); // round 0 warms up the JIT
  }
  if (sink === 0) throw new Error('unreachable: keeps the loop from being optimised away');
  return median(rates);
}

/** Policy decisions per second for each built-in policy. */
export function benchPolicies(): BenchRow[] {
  const actions = workload(50);
  // The no-op policy is the floor: what calling any policy costs at all.
  const floor = decisionsPerSecond(new AlwaysApprovePolicy(), actions);
  const riskBased = decisionsPerSecond(
    new RiskBasedPolicy({
      highRiskTools: ['tool_13', 'tool_42'],
      amountThreshold: 2500,
      requireApprovalForMedium: true,
    }),
    actions,
  );
  const audit = decisionsPerSecond(
    new AuditPlusEscalatePolicy({
      auditSampleRate: 0.1,
      seed: 42,
      anomalySignals: ['urgent', 'wire transfer'],
    }),
    actions,
  );
  const rules = new RulesPolicy({
    default: 'ask',
    trustedServers: ['srv0'],
    rules: twoHundredRules(),
  });
  const rulesRate = decisionsPerSecond(rules, actions);
  // Worst case: every call a tool name never seen, so the per-tool rule filter runs each time.
  const coldRounds = 5;
  const coldPerRound = 20_000;
  const base = workload(1000);
  const unseen = Array.from({ length: (coldRounds + 1) * coldPerRound }, (_, i) => ({
    ...base[i % base.length]!,
    toolName: `tool_${i}_u`,
  }));
  const rulesCold = decisionsPerSecond(
    new RulesPolicy({ default: 'ask', rules: twoHundredRules() }),
    unseen,
    coldRounds,
    coldPerRound,
  );
  return [
    { name: 'AlwaysApprovePolicy (floor: cost of any call)', value: floor, unit: 'decisions/s' },
    {
      name: 'RiskBasedPolicy',
      value: riskBased,
      unit: 'decisions/s',
      target: '>= 1,000,000/s',
      pass: riskBased >= 1_000_000,
    },
    { name: 'AuditPlusEscalatePolicy (seeded)', value: audit, unit: 'decisions/s' },
    {
      name: 'RulesPolicy, 200 rules, 50 tools',
      value: rulesRate,
      unit: 'decisions/s',
      target: '>= 200,000/s',
      pass: rulesRate >= 200_000,
    },
    { name: 'RulesPolicy, 200 rules, every tool new', value: rulesCold, unit: 'decisions/s' },
  ];
}
