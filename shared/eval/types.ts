import { z } from 'zod';
import type { Action } from '../models/action.js';
import type { RiskClass } from '../models/risk.js';

/**
 * The kinds of mistake the {@link ErrorInjector} can plant in an agent's
 * action. Each scenario supports the subset that makes sense for its tools.
 *
 * @example
 * ErrorType.parse('wrong_recipient') // 'wrong_recipient'
 */
export const ErrorType = z.enum([
  'wrong_recipient',
  'wrong_record_id',
  'wrong_amount',
  'invalid_tool',
  'sensitive_data',
  'malformed_args',
  'wrong_path',
  'destructive_command',
]);
export type ErrorType = z.infer<typeof ErrorType>;

/**
 * The Python hitloop's `InjectionType` enum under its member names, plus the
 * two kinds hitloop added for the coding scenario. The values are the
 * {@link ErrorType} strings (as the seed's `str` enum values were).
 *
 * @example
 * new ErrorInjector(scenario, { rate: 0.2, seed: 42, types: [InjectionType.WRONG_RECIPIENT] });
 * InjectionType.WRONG_RECORD_ID // 'wrong_record_id'
 */
export const InjectionType = {
  WRONG_RECIPIENT: 'wrong_recipient',
  WRONG_RECORD_ID: 'wrong_record_id',
  WRONG_AMOUNT: 'wrong_amount',
  INVALID_TOOL: 'invalid_tool',
  SENSITIVE_DATA: 'sensitive_data',
  MALFORMED_ARGS: 'malformed_args',
  WRONG_PATH: 'wrong_path',
  DESTRUCTIVE_COMMAND: 'destructive_command',
} as const satisfies Record<string, ErrorType>;
/** One of {@link InjectionType}'s values: the same as {@link ErrorType}. */
export type InjectionType = ErrorType;

/**
 * The error type a name stands for, in any of the forms a seed user may
 * write: `wrong_recipient`, `WRONG_RECIPIENT`, or Python's
 * `str(InjectionType.WRONG_RECIPIENT)`, `InjectionType.WRONG_RECIPIENT`.
 * Undefined for anything else.
 *
 * @example
 * errorTypeFromName('InjectionType.WRONG_RECORD_ID') // 'wrong_record_id'
 */
export function errorTypeFromName(name: string): ErrorType | undefined {
  const bare = name
    .trim()
    .replace(/^InjectionType\./, '')
    .toLowerCase();
  const parsed = ErrorType.safeParse(bare);
  return parsed.success ? parsed.data : undefined;
}

/**
 * An {@link ErrorType} given by any name {@link errorTypeFromName} accepts;
 * parses to the canonical lower-case value.
 *
 * @example
 * ErrorTypeName.parse('WRONG_RECIPIENT') // 'wrong_recipient'
 */
export const ErrorTypeName = z.string().transform((name, ctx): ErrorType => {
  const type = errorTypeFromName(name);
  if (type) return type;
  ctx.addIssue({
    code: 'custom',
    message: `unknown error type ${JSON.stringify(name)}; the types are ${ErrorType.options.join(', ')} (or the seed's names, e.g. WRONG_RECIPIENT)`,
  });
  return z.NEVER;
});

/**
 * The scenarios shipped with hitloop.
 *
 * @example
 * ScenarioName.parse('record_update') // 'record_update'
 */
export const ScenarioName = z.enum(['email_draft', 'record_update', 'coding']);
export type ScenarioName = z.infer<typeof ScenarioName>;

/**
 * A tool a scenario offers the agent: its name, what it does, its input
 * schema (the tool itself rejects arguments that fail it) and its base risk.
 *
 * @example
 * const tool: ScenarioTool = { name: 'send_email', description: 'send an email', riskClass: 'high', inputSchema: z.object({ to: z.string() }) };
 */
export interface ScenarioTool {
  name: string;
  description: string;
  riskClass: RiskClass;
  inputSchema: z.ZodType<Record<string, unknown>>;
}

/**
 * What a careful reviewer concludes after checking an action against the task
 * using only what they can see: the tool, its arguments and the task. It never
 * consults the injector's ground truth.
 *
 * @example
 * const finding: Inspection = { erroneous: true, findings: ['recipient bob@acme.example is not the requested carol@acme.example'] };
 */
export interface Inspection {
  erroneous: boolean;
  /** Human-readable reasons; empty when the action matches the task. */
  findings: string[];
}

/**
 * The outcome of running one tool call against the scenario's real state.
 *
 * @example
 * const run: ToolExecution = { ok: false, error: 'unknown tool "send_mail"' };
 */
export interface ToolExecution {
  /** False when the tool failed: unknown tool, arguments it rejected, a runtime error. */
  ok: boolean;
  output?: unknown;
  error?: string;
}

/**
 * Whether the task was done, judged from the real side effects (the outbox,
 * the database rows, the files on disk), never from the action.
 *
 * @example
 * const v: ValidationResult = { success: false, problems: ['customer 17 was changed but the task names customer 12'] };
 */
export interface ValidationResult {
  success: boolean;
  problems: string[];
}

/**
 * Hints a scenario gives the standard conditions so the risk-based and the
 * audit policies are configured for its tools, as a deployer would.
 *
 * @example
 * const hints: PolicyHints = { highRiskTools: ['delete_customer'], amountThreshold: 500, anomalySignals: ['urgent'] };
 */
export interface PolicyHints {
  highRiskTools: string[];
  amountThreshold?: number;
  anomalySignals: string[];
}

/**
 * Every task carries a stable id and a sentence a person can read; the rest
 * is scenario-specific.
 *
 * @example
 * const task: TaskBase = { id: 'email-00017', description: 'Send Raj Patel a reminder ...' };
 */
export interface TaskBase {
  id: string;
  /** The instruction the agent was given, as a reviewer would read it. */
  description: string;
}

/**
 * A task environment for experiments. One trial gives the agent one task; the
 * agent proposes one action; oversight decides; the action (maybe) runs
 * against real state; `validateResult` checks that state.
 *
 * Lifecycle: `setUp()` once, then per trial `beginTrial(task)`, optionally
 * `execute(...)`, `validateResult(task, execution)`; `tearDown()` at the end.
 * Everything that depends on chance is derived from string keys so a seed
 * reproduces the same trial in any process.
 *
 * @example
 * const scenario = createScenario('email_draft');
 * scenario.setUp();
 * const task = scenario.createTask('42|email_draft|task|0');
 * scenario.beginTrial(task);
 * const action = scenario.generateAction(task);
 * const run = scenario.execute(action.toolName, action.toolArgs);
 * scenario.validateResult(task, run).success; // true
 * scenario.tearDown();
 */
export interface Scenario<TTask extends TaskBase = TaskBase> {
  readonly name: ScenarioName;
  readonly description: string;
  readonly tools: readonly ScenarioTool[];
  /** The error kinds this scenario can express, in a fixed order. */
  readonly errorTypes: readonly ErrorType[];
  readonly policyHints: PolicyHints;
  /** Validates a task that crossed a boundary (an approval request's context). */
  readonly taskSchema: z.ZodType<TTask>;
  /** A deterministic task from a key. */
  createTask(key: string): TTask;
  /**
   * The error kinds that can be expressed for this task (a wrong amount needs
   * a task with an amount), a subset of `errorTypes` in the same order.
   */
  errorTypesFor(task: TTask): readonly ErrorType[];
  /**
   * The action an agent proposes for the task: the right one when `correct`
   * (the default), otherwise one carrying a mistake of `errorType` (default:
   * the first kind this scenario supports). `key` seeds the mistake's details.
   */
  generateAction(task: TTask, correct?: boolean, errorType?: ErrorType, key?: string): Action;
  /** Plants a mistake of `errorType` in a correct action; `draw` gives numbers in [0, 1). */
  injectError(
    action: Action,
    task: TTask,
    errorType: ErrorType,
    draw: (label: string) => number,
  ): Action;
  /** Judges an action against the task from observable information only. */
  inspect(action: Action, task: TTask): Inspection;
  setUp(): void;
  /** Resets the real state to the task's starting point. */
  beginTrial(task: TTask): void;
  /** Runs a tool against the real state. Never throws: failures come back as `ok: false`. */
  execute(toolName: string, args: Record<string, unknown>): ToolExecution;
  /** Checks the real side effects against the task. `execution` is undefined when nothing ran. */
  validateResult(task: TTask, execution: ToolExecution | undefined): ValidationResult;
  tearDown(): void;
}

/**
 * A scenario whose task type is not known statically (the registry's view).
 *
 * @example
 * const scenario: AnyScenario = createScenario('coding');
 */
export type AnyScenario = Scenario<TaskBase>;
