import type { ApprovalBackend } from '../backends/backend.js';
import { type GateOutcome, gateAction } from '../gate/approval-gate.js';
import type { TelemetryLogger } from '../telemetry/logger.js';
import type { ExperimentCondition } from './conditions.js';
import { ErrorInjector, type InjectionTruth } from './injector.js';
import type { TrialJournal } from './journal.js';
import { isReplayableReviewer, type ReviewerConfigInput, SimulatedReviewer } from './reviewers.js';
import type { TrialRecord } from './trial-record.js';
import type { AnyScenario, TaskBase, ToolExecution, ValidationResult } from './types.js';

/**
 * Progress of a run, reported after every trial (including trials skipped
 * because an earlier process finished them).
 *
 * @example
 * onProgress: (p: ExperimentProgress) => console.error(`${p.done}/${p.total}`)
 */
export interface ExperimentProgress {
  condition: string;
  /** Trials finished across all conditions, including resumed ones. */
  done: number;
  total: number;
  /** Of `done`, how many came from the journal of an earlier process. */
  resumed: number;
}

/**
 * Options for {@link ExperimentRunner}.
 *
 * @example
 * const options: ExperimentRunnerOptions = { seed: 42, reviewer: { sensitivity: 0.8 }, logger };
 */
export interface ExperimentRunnerOptions {
  /** Seeds the tasks (and, by default, the simulated reviewer). */
  seed: number | string;
  /** The simulated reviewer's parameters; its seed defaults to `seed`. */
  reviewer?: ReviewerConfigInput;
  /** Records every trial as a telemetry run. */
  logger?: TelemetryLogger;
  /** Prefix for telemetry run ids, to keep experiments apart in one file. */
  runIdPrefix?: string;
  /** Completed trials are read from and appended to it (crash resume). */
  journal?: TrialJournal;
  onProgress?: (progress: ExperimentProgress) => void;
  /** Stops after the current trial; the journal keeps what finished. */
  signal?: AbortSignal;
}

/**
 * What {@link ExperimentRunner.run} returns.
 *
 * @example
 * const { records, interrupted } = await runner.run(conditions);
 */
export interface ExperimentRunResult {
  /** Every finished trial, in condition order then trial index. */
  records: TrialRecord[];
  /** How many records came from the journal rather than this process. */
  resumed: number;
  /** True when `signal` stopped the run before every trial finished. */
  interrupted: boolean;
}

/**
 * The key of trial `index`'s task: the same for every condition, so all
 * conditions face the same tasks.
 *
 * @example
 * taskKey(42, 'email_draft', 17) // '42|email_draft|task|17'
 */
export function taskKey(seed: number | string, scenario: string, index: number): string {
  return `${seed}|${scenario}|task|${index}`;
}

/**
 * Runs experiment conditions trial by trial: the scenario makes a task, the
 * injector makes the agent's action (maybe with a planted mistake), the
 * shared approval gate runs the condition's policy and reviewer, the action
 * runs (or not) against the scenario's real state, and the scenario validates
 * the side effects.
 *
 * Where the truth lives: the injector hands back `{ action, truth }`; only
 * the runner holds `truth`, in a local variable joined into the record after
 * the trial. The policy and the reviewer receive the action and a context of
 * `{ runId, task }`. Telemetry gets an `injected_error` event only after the
 * trial's run has ended, so nothing on the decision path could read it even
 * from the telemetry database.
 *
 * Sessions: each condition is one agent session (the policy's `runId` is
 * the condition name), so stateful policies (the audit policy's unreviewed
 * streak) and the reviewer's fatigue carry across trials as they would in a
 * real session. Each trial is its own telemetry run.
 *
 * Resume: with a journal, trials finished by an earlier process are not run
 * again; the runner replays their policy verdicts and reviewer decisions to
 * restore that state (and checks the replayed verdict matches), so the
 * remaining trials behave exactly as in an uninterrupted run.
 *
 * @example
 * const scenario = new RecordUpdateScenario();
 * const runner = new ExperimentRunner({ seed: 42, reviewer: { sensitivity: 0.9 } });
 * const { records } = await runner.run(createStandardConditions(scenario, 100, 0.2, { seed: 42 }));
 */
export class ExperimentRunner {
  readonly options: ExperimentRunnerOptions;

  constructor(options: ExperimentRunnerOptions) {
    this.options = options;
  }

  async run(conditions: readonly ExperimentCondition[]): Promise<ExperimentRunResult> {
    const names = new Set<string>();
    for (const c of conditions) {
      if (names.has(c.name)) throw new RangeError(`duplicate condition name "${c.name}"`);
      names.add(c.name);
    }
    const total = conditions.reduce((sum, c) => sum + c.nTrials, 0);
    const scenarios = [...new Set(conditions.map((c) => c.scenario))];
    const state = { done: 0, resumed: 0, total };
    const records: TrialRecord[] = [];
    for (const s of scenarios) s.setUp();
    try {
      for (const condition of conditions) {
        const stopped = await this.runCondition(condition, records, state);
        if (stopped) return { records, resumed: state.resumed, interrupted: true };
      }
    } finally {
      for (const s of scenarios) s.tearDown();
      this.options.logger?.flush();
    }
    return { records, resumed: state.resumed, interrupted: false };
  }

  private async runCondition(
    condition: ExperimentCondition,
    records: TrialRecord[],
    state: { done: number; resumed: number; total: number },
  ): Promise<boolean> {
    const { seed, journal, onProgress, signal } = this.options;
    const scenario = condition.scenario;
    const injector = new ErrorInjector(scenario, condition.injection);
    const policy = condition.createPolicy();
    const reviewer = condition.createReviewer
      ? condition.createReviewer()
      : new SimulatedReviewer(scenario, { seed, ...this.options.reviewer });
    for (let index = 0; index < condition.nTrials; index++) {
      if (signal?.aborted) return true;
      const task = scenario.createTask(taskKey(seed, scenario.name, index));
      const { action, truth } = injector.prepare(task, index);
      const context = { runId: condition.name, task };
      const earlier = journal?.get(condition.name, index);
      let record: TrialRecord;
      if (earlier) {
        await replay(condition, policy, reviewer, action, context, earlier);
        record = earlier;
        state.resumed++;
      } else {
        try {
          record = await this.runTrial(condition, scenario, policy, reviewer, task, index, {
            action,
            truth,
            context,
          });
        } catch (err) {
          if (signal?.aborted && (err as Error).name === 'AbortError') return true;
          throw err;
        }
        journal?.append(record);
      }
      records.push(record);
      state.done++;
      onProgress?.({
        condition: condition.name,
        done: state.done,
        total: state.total,
        resumed: state.resumed,
      });
    }
    return false;
  }

  private async runTrial(
    condition: ExperimentCondition,
    scenario: AnyScenario,
    policy: ReturnType<ExperimentCondition['createPolicy']>,
    reviewer: ApprovalBackend,
    task: TaskBase,
    index: number,
    prepared: {
      action: ReturnType<ErrorInjector['prepare']>['action'];
      truth: InjectionTruth;
      context: { runId: string; task: TaskBase };
    },
  ): Promise<TrialRecord> {
    const { logger, seed, signal } = this.options;
    const { action, truth, context } = prepared;
    const runId = `${this.options.runIdPrefix ?? ''}${condition.name}:${task.id}`;
    logger?.startRun({
      runId,
      condition: condition.name,
      scenario: scenario.name,
      ...(typeof seed === 'number' ? { seed } : {}),
      metadata: { trial_index: index, task_id: task.id, seed },
    });
    scenario.beginTrial(task);
    const outcome = await gateAction(action, {
      policy,
      backend: reviewer,
      runId,
      logger,
      context,
      signal,
      timeoutMs: condition.reviewTimeoutMs,
    });
    let execution: ToolExecution | undefined;
    if (outcome.kind === 'allowed' || outcome.kind === 'approved') {
      logger?.logToolExecutionStart(runId, action, outcome.args);
      const started = performance.now();
      execution = scenario.execute(action.toolName, outcome.args);
      logger?.logToolExecutionEnd(runId, {
        actionId: action.id,
        success: execution.ok,
        ...(execution.error === undefined ? {} : { error: execution.error }),
        durationMs: performance.now() - started,
        executed: true,
      });
    }
    const validation = scenario.validateResult(task, execution);
    // The decision path is over: only now may the ground truth reach
    // telemetry. runs.task_success has the seed's meaning (a planted mistake
    // that was stopped is a success); `completed` says whether the task got done.
    logger?.endRun(runId, {
      success: truth.injected ? execution === undefined : validation.success,
      validationDetails: { completed: validation.success, problems: validation.problems },
      metadata: { validation_problems: validation.problems },
    });
    if (truth.injected) {
      logger?.logEvent({
        runId,
        eventType: 'injected_error',
        payload: {
          action_id: action.id,
          tool_name: action.toolName,
          error_type: truth.errorType,
          trial_index: index,
        },
      });
    }
    // Flushed before the journal line, so a journaled trial's events are on disk.
    logger?.flush();
    return toRecord(
      runId,
      policy.name,
      condition,
      scenario,
      task,
      index,
      action,
      truth,
      outcome,
      execution,
      validation,
    );
  }
}

async function replay(
  condition: ExperimentCondition,
  policy: ReturnType<ExperimentCondition['createPolicy']>,
  reviewer: ApprovalBackend,
  action: ReturnType<ErrorInjector['prepare']>['action'],
  context: { runId: string; task: TaskBase },
  earlier: TrialRecord,
): Promise<void> {
  const verdict = await policy.evaluate(action, context);
  if (verdict.verdict !== earlier.policy_verdict) {
    throw new Error(
      `cannot resume: trial ${earlier.trial_id} (${condition.name}) was "${earlier.policy_verdict}" in the journal ` +
        `but the policy now says "${verdict.verdict}"; the policy or the code changed. Start afresh.`,
    );
  }
  if (earlier.approval_requested && isReplayableReviewer(reviewer)) {
    reviewer.replayDecision(earlier.approved === true, earlier.decided_by);
  }
}

function toRecord(
  runId: string,
  policyName: string,
  condition: ExperimentCondition,
  scenario: AnyScenario,
  task: TaskBase,
  index: number,
  action: { toolName: string; riskClass: string },
  truth: InjectionTruth,
  outcome: GateOutcome,
  execution: ToolExecution | undefined,
  validation: ValidationResult,
): TrialRecord {
  const asked = outcome.kind === 'approved' || outcome.kind === 'rejected';
  const decision = asked ? outcome.decision : undefined;
  const executed = execution !== undefined;
  return {
    trial_id: `${condition.name}:${task.id}`,
    run_id: runId,
    condition: condition.name,
    policy_name: policyName,
    scenario: scenario.name,
    trial_index: index,
    task_id: task.id,
    injected: truth.injected,
    error_type: truth.errorType,
    tool_name: action.toolName,
    risk_class: action.riskClass,
    policy_verdict: outcome.policy.verdict,
    policy_rule: outcome.policy.rule ?? null,
    approval_requested: asked,
    approved: decision ? decision.approved : null,
    decided_by: decision ? decision.decidedBy : 'policy',
    human_latency_ms: decision ? decision.latencyMs : null,
    executed,
    tool_failure: executed && !execution.ok,
    completed: validation.success,
    // The seed's meaning: a right action that did the task, or a wrong one stopped.
    task_success: truth.injected ? !executed : validation.success,
    error_caught: truth.injected && !executed,
    harm: truth.injected && executed,
    validation_problems: validation.problems.join('; '),
  };
}
