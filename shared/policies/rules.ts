import { posix } from 'node:path';
import type { Action } from '../models/action.js';
import type { RiskClass } from '../models/risk.js';
import { asNumber } from './args-scan.js';
import { pathGlob, toolNameGlob } from './glob.js';
import type { HITLPolicy, PolicyDecision, Verdict } from './policy.js';
import { type ArgMatcher, type Rule, RulesDocument } from './rules-schema.js';
import { effectiveRisk } from './tool-risk.js';

type Test = (value: unknown) => boolean;

interface CompiledRule {
  label: string;
  effect: Verdict;
  reason: string;
  order: number;
  toolPatterns: RegExp[];
  servers: ReadonlySet<string> | undefined;
  args: Array<{ path: string[]; test: Test }>;
  risks: ReadonlySet<RiskClass> | undefined;
}

const PRIORITY: Record<Verdict, number> = { deny: 0, ask: 1, allow: 2 };
const CACHE_LIMIT = 10_000;

/**
 * Declarative rules, as coding agents do them: every rule that matches is
 * considered and the strictest effect wins (deny beats ask beats allow);
 * among rules with the same effect the first in the file is reported. When
 * no rule matches, `default` applies.
 *
 * @example
 * const policy = new RulesPolicy({
 *   default: 'ask',
 *   rules: [
 *     { tool: '*delete*', effect: 'deny', reason: 'deletions are not allowed' },
 *     { tool: 'fs__write_*', args: { path: { glob: '/tmp/**' } }, effect: 'allow' },
 *   ],
 * });
 * policy.evaluate(createAction({ toolName: 'fs__write_file', toolArgs: { path: '/tmp/a.txt' } })).verdict // 'allow'
 */
export class RulesPolicy implements HITLPolicy {
  readonly name = 'rules';
  readonly defaultEffect: Verdict;
  private readonly rules: CompiledRule[];
  private readonly trusted: ReadonlySet<string>;
  private readonly usesRisk: boolean;
  // Which rules can apply depends only on (server, tool), so that filter is
  // computed once per tool; only argument and risk tests run per call.
  private readonly candidates = new Map<string, CompiledRule[]>();

  constructor(document: RulesDocument) {
    const doc = RulesDocument.parse(document);
    this.defaultEffect = doc.default;
    this.trusted = new Set(doc.trustedServers);
    this.rules = doc.rules
      .map((rule, index) => compileRule(rule, index))
      .sort((a, b) => PRIORITY[a.effect] - PRIORITY[b.effect] || a.order - b.order);
    this.usesRisk = this.rules.some((r) => r.risks);
  }

  evaluate(action: Action): PolicyDecision {
    const risk = this.usesRisk ? effectiveRisk(action, this.trusted) : action.riskClass;
    for (const rule of this.candidatesFor(action)) {
      if (rule.risks && !rule.risks.has(risk)) continue;
      if (!argsMatch(rule, action.toolArgs)) continue;
      return { verdict: rule.effect, reason: rule.reason, rule: rule.label, riskClass: risk };
    }
    return {
      verdict: this.defaultEffect,
      reason: `no rule matched; default is ${this.defaultEffect}`,
      rule: 'default',
      riskClass: risk,
    };
  }

  private candidatesFor(action: Action): CompiledRule[] {
    const key = `${action.server ?? ''}\u0000${action.toolName}`;
    let list = this.candidates.get(key);
    if (!list) {
      const names = action.server
        ? [action.toolName, `${action.server}__${action.toolName}`]
        : [action.toolName];
      list = this.rules.filter(
        (r) =>
          (!r.servers || (action.server !== undefined && r.servers.has(action.server))) &&
          r.toolPatterns.some((p) => names.some((n) => p.test(n))),
      );
      if (this.candidates.size >= CACHE_LIMIT) this.candidates.clear();
      this.candidates.set(key, list);
    }
    return list;
  }
}

function argsMatch(rule: CompiledRule, args: Record<string, unknown>): boolean {
  for (const { path, test } of rule.args) {
    let value: unknown = args;
    for (const part of path) {
      value =
        value !== null && typeof value === 'object'
          ? (value as Record<string, unknown>)[part]
          : undefined;
    }
    if (!test(value)) return false;
  }
  return true;
}

function compileRule(rule: Rule, index: number): CompiledRule {
  const label = rule.id ?? `rules[${index}]`;
  const tools = Array.isArray(rule.tool) ? rule.tool : [rule.tool];
  const servers =
    rule.server === undefined
      ? undefined
      : new Set(Array.isArray(rule.server) ? rule.server : [rule.server]);
  const risks =
    rule.risk === undefined
      ? undefined
      : new Set(Array.isArray(rule.risk) ? rule.risk : [rule.risk]);
  return {
    label,
    effect: rule.effect,
    reason:
      rule.reason ??
      `rule ${label} (${rule.effect})${rule.description ? `: ${rule.description}` : ''}`,
    order: index,
    toolPatterns: tools.map(toolGlobToRegExp),
    servers,
    risks,
    args: Object.entries(rule.args ?? {}).map(([key, matcher]) => ({
      path: key.split('.'),
      test: compileMatcher(matcher),
    })),
  };
}

/**
 * A tool-name glob as a RegExp (see glob.ts for the syntax), compiled once.
 *
 * @example
 * toolGlobToRegExp('{read,list}_*').test('read_file') // true
 */
export function toolGlobToRegExp(glob: string): RegExp {
  return toolNameGlob(glob);
}

function compileMatcher(m: ArgMatcher): Test {
  const tests: Test[] = [];
  if (m.exists !== undefined) tests.push((v) => (v !== undefined) === m.exists);
  if (m.glob !== undefined) {
    const isMatch = pathGlob(m.glob);
    tests.push((v) => typeof v === 'string' && isMatch(normalisePath(v)));
  }
  if (m.regex !== undefined) {
    const re = new RegExp(m.regex, m.flags);
    tests.push((v) => typeof v === 'string' && re.test(v));
  }
  const numeric: Array<[number | undefined, (n: number, bound: number) => boolean]> = [
    [m.gt, (n, b) => n > b],
    [m.gte, (n, b) => n >= b],
    [m.lt, (n, b) => n < b],
    [m.lte, (n, b) => n <= b],
  ];
  for (const [bound, cmp] of numeric) {
    if (bound === undefined) continue;
    tests.push((v) => {
      const n = asNumber(v);
      return n !== undefined && cmp(n, bound);
    });
  }
  if ('equals' in m) {
    const expected = JSON.stringify(m.equals);
    tests.push((v) => JSON.stringify(v) === expected);
  }
  if (m.in !== undefined) {
    const allowed = new Set(m.in.map((x) => JSON.stringify(x)));
    tests.push((v) => allowed.has(JSON.stringify(v)));
  }
  return (v) => tests.every((t) => t(v));
}

function normalisePath(p: string): string {
  // Windows separators count as separators too: `C:\\tmp\\..\\x` must not match `C:/tmp/**`.
  const normal = posix.normalize(p.replace(/\\/g, '/'));
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}
