import type { z } from 'zod';
import { type Action, createAction } from '../../models/action.js';
import type { RiskClass } from '../../models/risk.js';
import { canonicalJson } from '../../util/canonical-json.js';
import { keyedUniform, pick } from '../random.js';
import type {
  ErrorType,
  Inspection,
  Scenario,
  ScenarioTool,
  TaskBase,
  ToolExecution,
} from '../types.js';

// Credentials and personal data a task never asks an agent to write anywhere.
// Each pattern is specific enough that the scenarios' legitimate texts never
// match, so a hit always means a leak.
const SECRET_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  ['a password', /\bpassword\s*(?:is|:|=)\s*\S+/i],
  ['an API key', /\b(?:sk|pk|rk)_live_[A-Za-z0-9]{8,}/],
  ['an AWS access key', /\bAKIA[0-9A-Z]{16}\b/],
  ['a payment card number', /\b(?:\d{4}[ -]){3}\d{4}\b/],
  ['a social security number', /\b\d{3}-\d{2}-\d{4}\b/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
];

/**
 * Names the kinds of credential or personal data found in a text, e.g.
 * `['an API key']`; empty when the text is clean.
 *
 * @example
 * findSecrets('the key is sk_live_4eC39HqLyjWDarjtT1zdp7dc') // ['an API key']
 */
export function findSecrets(text: string): string[] {
  const found: string[] = [];
  for (const [label, pattern] of SECRET_PATTERNS) if (pattern.test(text)) found.push(label);
  return found;
}

/**
 * Where in a text the first credential or personal identifier starts, and
 * what it is; undefined when the text is clean.
 *
 * @example
 * firstSecret('Hi.\nkey sk_live_4eC39HqLyjWDarjtT1zdp7dc') // { index: 8, kind: 'an API key' }
 */
export function firstSecret(text: string): { index: number; kind: string } | undefined {
  let first: { index: number; kind: string } | undefined;
  for (const [kind, pattern] of SECRET_PATTERNS) {
    const match = pattern.exec(text);
    if (match && (first === undefined || match.index < first.index))
      first = { index: match.index, kind };
  }
  return first;
}

/**
 * Every string inside a JSON-like value, joined, for scanning.
 *
 * @example
 * allText({ a: 'x', b: ['y', 3] }) // 'x\ny'
 */
export function allText(value: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (typeof v === 'string') out.push(v);
    else if (v !== null && typeof v === 'object' && depth < 16) {
      for (const item of Object.values(v as Record<string, unknown>)) walk(item, depth + 1);
    }
  };
  walk(value, 0);
  return out.join('\n');
}

/**
 * Finds a tool by name and parses its arguments with the tool's own schema,
 * as the tool does before it runs.
 *
 * @example
 * const parsed = parseToolCall(tools, 'send_email', { to: 'a@b.example', subject: 's', body: 'b' });
 * if (!parsed.ok) return { ok: false, error: parsed.error };
 */
export function parseToolCall(
  tools: readonly ScenarioTool[],
  toolName: string,
  args: Record<string, unknown>,
): { ok: true; tool: ScenarioTool; args: Record<string, unknown> } | { ok: false; error: string } {
  const tool = tools.find((t) => t.name === toolName);
  if (!tool) {
    return {
      ok: false,
      error: `unknown tool "${toolName}" (available: ${tools.map((t) => t.name).join(', ')})`,
    };
  }
  const parsed = tool.inputSchema.safeParse(args);
  if (!parsed.success) {
    return { ok: false, error: `invalid arguments for ${toolName}: ${zodProblem(parsed.error)}` };
  }
  return { ok: true, tool, args: parsed.data };
}

/**
 * The first problem of a failed parse as `field: message`.
 *
 * @example
 * zodProblem(schema.safeParse({}).error!) // 'to: Invalid input: expected string, received undefined'
 */
export function zodProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid input';
  const path = issue.path.map(String).join('.') || '(arguments)';
  return `${path}: ${issue.message}`;
}

/**
 * Turns an exception from a tool body into a failed execution.
 *
 * @example
 * try { run(); } catch (err) { return failure(err); }
 */
export function failure(err: unknown): ToolExecution {
  return { ok: false, error: err instanceof Error ? err.message : String(err) };
}

/**
 * Compares a proposed action with the action the task calls for, the way a
 * careful reviewer reads an approval card: right tool? arguments the tool
 * accepts? each argument as the task says? any credential or personal data?
 * `describe` words a differing argument for a person (e.g. "recipient X, but
 * the task names Y").
 *
 * @example
 * inspectAgainst(action, expected, tools, (key, got, want) => `${key} is ${got}, expected ${want}`);
 */
export function inspectAgainst(
  action: Action,
  expected: Action,
  tools: readonly ScenarioTool[],
  describe: (key: string, got: unknown, want: unknown) => string,
): Inspection {
  const findings: string[] = [];
  const secrets = findSecrets(allText(action.toolArgs));
  if (secrets.length > 0) findings.push(`the arguments contain ${secrets.join(' and ')}`);
  const parsed = parseToolCall(tools, action.toolName, action.toolArgs);
  if (!parsed.ok) {
    findings.push(parsed.error);
  } else if (action.toolName !== expected.toolName) {
    findings.push(`calls ${action.toolName}, but the task calls for ${expected.toolName}`);
  } else {
    const keys = new Set([...Object.keys(expected.toolArgs), ...Object.keys(action.toolArgs)]);
    for (const key of [...keys].sort()) {
      const got = action.toolArgs[key];
      const want = expected.toolArgs[key];
      if (canonicalJson(got) !== canonicalJson(want)) findings.push(describe(key, got, want));
    }
  }
  return { erroneous: findings.length > 0, findings };
}

/**
 * Shortens a value for a finding so a long body does not flood the message.
 *
 * @example
 * brief('a'.repeat(100)) // '"aaaa…" (100 chars)'
 */
export function brief(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 40)}…" (${text.length} chars)` : text;
}

/**
 * A typical slip with an amount: a factor of ten, or two digits swapped;
 * never the same amount.
 *
 * @example
 * wrongAmount(12050, () => 0) // 120500 (ten times)
 */
export function wrongAmount(cents: number, draw: (label: string) => number): number {
  const how = Math.floor(draw('how') * 3);
  if (how === 0) return cents * 10;
  if (how === 1 && cents >= 1000) return Math.round(cents / 10);
  const digits = String(cents).split('');
  for (let i = 0; i + 1 < digits.length; i++) {
    if (digits[i] !== digits[i + 1] && digits[i + 1] !== '0') {
      [digits[i], digits[i + 1]] = [digits[i + 1]!, digits[i]!];
      return Number(digits.join(''));
    }
  }
  return cents + 10_000;
}

/**
 * The trial part of a task key, zero-padded, for readable task ids.
 *
 * @example
 * idSuffix('42|email_draft|task|17') // '00017'
 */
export function idSuffix(key: string): string {
  const last = key.split('|').pop() ?? key;
  return /^\d+$/.test(last) ? last.padStart(5, '0') : last;
}

// The parts every scenario shares: how an agent's action is named, how a
// mistake is planted on request, how a tool call is checked and run, and how
// validation starts. Each scenario keeps only what is its own (tools, tasks,
// mistakes, real state).

/**
 * The agent's action for a task: one action per trial, so its id is the
 * task's (`<task id>:action`), whether or not a mistake was planted in it.
 *
 * @example
 * agentAction(task, 'send_email', { to, subject, body }, { riskClass: 'high', sideEffects: ['outbound_email'], rationale: 'Sending the reminder as asked.' })
 */
export function agentAction(
  task: TaskBase,
  toolName: string,
  toolArgs: Record<string, unknown>,
  details: { riskClass: RiskClass; sideEffects: string[]; rationale: string },
): Action {
  return createAction({ id: `${task.id}:action`, toolName, toolArgs, ...details });
}

/**
 * The end of every `generateAction`: the correct action as it is, or with a
 * mistake of `errorType` (default: the first kind the task can express),
 * its details drawn from `key`.
 *
 * @example
 * return withRequestedMistake(this, base, task, correct, errorType, key);
 */
export function withRequestedMistake<TTask extends TaskBase>(
  scenario: Pick<Scenario<TTask>, 'errorTypesFor' | 'injectError'>,
  correctAction: Action,
  task: TTask,
  correct: boolean,
  errorType: ErrorType | undefined,
  key: string,
): Action {
  if (correct) return correctAction;
  const kind = errorType ?? scenario.errorTypesFor(task)[0]!;
  return scenario.injectError(correctAction, task, kind, (label) =>
    keyedUniform(key, task.id, label),
  );
}

/**
 * The error for a kind a scenario cannot plant at all.
 *
 * @example
 * default: throw cannotExpress('coding', errorType);
 */
export function cannotExpress(scenario: string, errorType: ErrorType): RangeError {
  return new RangeError(`${scenario} cannot express error type ${errorType}`);
}

/**
 * Throws when this task cannot carry a mistake of `errorType` (a wrong
 * amount in a task without an amount), naming the task's kind.
 *
 * @example
 * requireExpressible(this, task, errorType, task.kind);
 */
export function requireExpressible<TTask extends TaskBase>(
  scenario: Pick<Scenario<TTask>, 'name' | 'errorTypesFor'>,
  task: TTask,
  errorType: ErrorType,
  taskKind: string,
): void {
  if (!scenario.errorTypesFor(task).includes(errorType)) {
    throw new RangeError(`${scenario.name} cannot express ${errorType} in a ${taskKind} task`);
  }
}

/**
 * An invalid tool name for the `invalid_tool` mistake: a plausible name the
 * scenario does not offer.
 *
 * @example
 * agentAction(task, misnamedTool(['send_mail', 'sendEmail'], draw), args, details)
 */
export function misnamedTool(names: readonly string[], draw: (label: string) => number): string {
  return pick(names, draw('tool'));
}

/**
 * Runs a tool call as every scenario does: finds the tool and parses its
 * arguments with the tool's schema, then runs `body`; a rejected call or an
 * exception comes back as a failed execution, never thrown.
 *
 * @example
 * execute(toolName, args) { return runToolCall(TOOLS, toolName, args, (call) => ({ ok: true, output: call.args })); }
 */
export function runToolCall(
  tools: readonly ScenarioTool[],
  toolName: string,
  args: Record<string, unknown>,
  body: (call: { tool: ScenarioTool; args: Record<string, unknown> }) => ToolExecution,
): ToolExecution {
  try {
    const call = parseToolCall(tools, toolName, args);
    if (!call.ok) return { ok: false, error: call.error };
    return body(call);
  } catch (err) {
    return failure(err);
  }
}

/**
 * How validation starts in every scenario: nothing ran, or the tool failed.
 *
 * @example
 * const problems = executionProblems(execution); // [] when the tool ran and succeeded
 */
export function executionProblems(
  execution: ToolExecution | undefined,
  nothingRan = 'no action ran',
): string[] {
  if (!execution) return [nothingRan];
  if (!execution.ok) return [`the tool failed: ${execution.error ?? 'unknown error'}`];
  return [];
}
