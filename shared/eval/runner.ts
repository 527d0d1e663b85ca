import type { ApprovalBackend } from '../backends/backend.js';
import { type GateOutcome, gateAction } from '../gate/approval-gate.js';
import { TelemetryLogger } from '../telemetry/logger.js';
import type { ExperimentCondition } from './conditions.js';
import { ErrorInjector, type InjectionTruth } from './injector.js';
import type { TrialJournal } from './journal.js';
import { isReplayableReviewer, type ReviewerConfigInput, SimulatedReviewer } from './reviewers.js';
import { exportSeedResults, type SeedSummary, seedSummary } from './seed-export.js';
import type { TrialRecord } from './trial-record.js';
import type { AnyScenario, TaskBase, ToolExecution, ValidationResult } from './types.js';

/** How many trials run between two turns of the event loop (see runCondition). */
const TRIALS_PER_TURN = 20;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

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
  /** Where {@link ExperimentRunner.exportResults} resolves relative paths. Default `./experiment_output`, as the seed's. */
  outputDir?: string;
}

/**
 * The second argument of `new ExperimentRunner(logger, options)`, the
 * Python hitloop's form: everything but the logger, and `seed` defaults to
 * 42 (the seed's `base_seed`).
 *
 * @example
 * const runner = new ExperimentRunner(new TelemetryLogger('experiment.db'), { seed: 7, outputDir: 'out' });
 */
export type ExperimentRunnerSeedOptions = Partial<Omit<ExperimentRunnerOptions, 'logger'>>;

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
  private readonly added: ExperimentCondition[] = [];
  private readonly results: TrialRecord[] = [];
  private ran = 0;

  /**
   * `new ExperimentRunner({ seed, logger, ... })`, or the Python hitloop's
   * `new ExperimentRunner(logger, { outputDir })`: every trial is recorded
   * through that logger, with seed 42 unless given.
   */
  constructor(
    options: ExperimentRunnerOptions | TelemetryLogger,
    seedOptions: ExperimentRunnerSeedOptions = {},
  ) {
    this.options = runnerOptions(options, seedOptions);
  }

  /**
   * Queues a condition for {@link runAll} (the seed's `add_condition`).
   *
   * @example
   * for (const c of createStandardConditions(scenario, 20, 0.2)) runner.addCondition(c);
   */
  addCondition(condition: ExperimentCondition): void {
    checkCondition(condition);
    if (this.added.some((c) => c.name === condition.name))
      throw new RangeError(`duplicate condition name "${condition.name}"`);
    this.added.push(condition);
  }

  /**
   * Runs the conditions added since the last call (the seed's `run_all`) and
   * returns every trial record so far. `progress` gets `(current, total,
   * message)` after each trial, as the seed's `progress_callback`.
   *
   * @example
   * const records = await runner.runAll((i, n, msg) => console.error(`${i}/${n} ${msg}`));
   */
  async runAll(
    progress?: (current: number, total: number, message: string) => void,
  ): Promise<TrialRecord[]> {
    const batch = this.added.slice(this.ran);
    const trials = new Map(batch.map((c) => [c.name, c.nTrials]));
    const started = new Map<string, number>();
    const onProgress = this.options.onProgress;
    const runner = progress
      ? new ExperimentRunner({
          ...this.options,
          onProgress: (p) => {
            onProgress?.(p);
            const n = (started.get(p.condition) ?? 0) + 1;
            started.set(p.condition, n);
            progress(p.done, p.total, `Ran ${p.condition} trial ${n}/${trials.get(p.condition)}`);
          },
        })
      : this;
    const { records } = await runner.run(batch);
    this.ran = this.added.length;
    this.results.push(...records);
    return [...this.results];
  }

  /**
   * Writes `results.csv` and `summary.json` in the seed's shapes (the
   * seed's `export_results`); relative paths are under `outputDir`. Returns
   * the paths written, null for one not asked for.
   *
   * @example
   * const [csv, json] = runner.exportResults('results.csv', 'summary.json');
   */
  exportResults(csvPath?: string | null, jsonPath?: string | null): [string | null, string | null] {
    if (this.results.length === 0)
      throw new Error('exportResults: nothing to export yet; await runner.runAll() first');
    return exportSeedResults(this.results, {
      outputDir: this.options.outputDir ?? './experiment_output',
      seed: this.options.seed,
      conditions: this.added,
      csvPath: csvPath ?? null,
      jsonPath: jsonPath ?? null,
    });
  }

  /**
   * The seed's `get_summary()`: trial counts and rates per condition.
   *
   * @example
   * runner.getSummary().conditions.risk_based?.error_catch_rate;
   */
  getSummary(): SeedSummary {
    return seedSummary(this.results);
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
      // Simulated trials resolve in microtasks, so without a turn of the event
      // loop now and then a Ctrl-C handler (which aborts `signal`) never runs.
      if (signal && index % TRIALS_PER_TURN === TRIALS_PER_TURN - 1) await nextTurn();
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

function runnerOptions(
  given: ExperimentRunnerOptions | TelemetryLogger,
  seedOptions: ExperimentRunnerSeedOptions,
): ExperimentRunnerOptions {
  if (given instanceof TelemetryLogger) return { seed: 42, ...seedOptions, logger: given };
  if (given === null || typeof given !== 'object') {
    throw new TypeError(
      'ExperimentRunner needs options: new ExperimentRunner({ seed: 42, logger }) or new ExperimentRunner(logger)',
    );
  }
  if ('startRun' in given || 'logEvent' in given) {
    // A logger from another copy of hitloop, or a wrapper: not ours to trust.
    throw new TypeError(
      'ExperimentRunner was given something like a telemetry logger that is not a TelemetryLogger from this hitloop; pass new ExperimentRunner({ seed: 42, logger })',
    );
  }
  if (given.seed === undefined || given.seed === null) {
    throw new TypeError(
      'ExperimentRunner needs a seed (it keys every task and mistake): new ExperimentRunner({ seed: 42, logger }), or new ExperimentRunner(logger) for seed 42 as in the Python hitloop',
    );
  }
  return { ...given, ...seedOptions } as ExperimentRunnerOptions;
}

/** Conditions typed from the Python hitloop's dataclass fail here, saying what to write. */
function checkCondition(condition: ExperimentCondition): void {
  const c = condition as unknown as Record<string, unknown>;
  const problems: string[] = [];
  if ('conditionId' in c || 'condition_id' in c) problems.push('name instead of conditionId');
  if ('policy' in c && !('createPolicy' in c))
    problems.push('createPolicy: () => policy instead of policy (a fresh policy per run)');
  if ('backend' in c && !('createReviewer' in c))
    problems.push('createReviewer: () => backend instead of backend');
  if ('injectionConfig' in c || 'injection_config' in c)
    problems.push('injection: { rate, seed, types? } instead of injectionConfig');
  if ('baseSeed' in c || 'base_seed' in c) problems.push('injection.seed instead of baseSeed');
  if (problems.length === 0 && typeof c.createPolicy === 'function' && typeof c.name === 'string')
    return;
  throw new TypeError(
    `addCondition: not an ExperimentCondition ({ name, description, scenario, nTrials, injection, createPolicy, createReviewer? })${problems.length ? `; write ${problems.join('; ')}` : ''}`,
  );
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
