import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type ApprovalBackend, type ApprovalOptions, abortError } from '../backends/backend.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import { keyedUniform, lognormal, standardNormal } from './random.js';
import type { AnyScenario, Inspection, TaskBase } from './types.js';

const Rate = z.number().min(0).max(1);

/**
 * The simulated reviewer's parameters. Defaults describe an attentive but
 * imperfect person: catches 90% of wrong actions, approves 95% of right ones,
 * takes about 8 s (lognormal, sigma 0.6), and gets slowly less careful while
 * approving a long run of actions.
 *
 * @example
 * const config = ReviewerConfig.parse({ sensitivity: 0.8, seed: 42 });
 */
export const ReviewerConfig = z
  .object({
    /** P(reject | the action is wrong), before fatigue. */
    sensitivity: Rate.default(0.9),
    /** P(approve | the action is right). */
    specificity: Rate.default(0.95),
    latency: z
      .object({
        /** Median decision time in ms (the lognormal's exp(mu)). */
        medianMs: z.number().positive().default(8000),
        /** Spread of log latency (the lognormal's sigma); 0 makes every decision take `medianMs`. */
        sigma: z.number().min(0).max(3).default(0.6),
      })
      .strict()
      .prefault({}),
    fatigue: z
      .object({
        /** Share of the remaining margin above `floor` lost with each approval in a row. */
        decayPerApproval: Rate.default(0.02),
        /** The sensitivity a fully fatigued reviewer still has. */
        floor: Rate.default(0.5),
      })
      .strict()
      .prefault({}),
    seed: z.union([z.number(), z.string()]).default(0),
    /** Actually wait for each simulated latency (pilots, demos). Results are the same either way. */
    realtime: z.boolean().default(false),
  })
  .strict();
export type ReviewerConfig = z.infer<typeof ReviewerConfig>;
export type ReviewerConfigInput = z.input<typeof ReviewerConfig>;

/**
 * The sensitivity left after `streak` approvals in a row:
 * `floor' + (sensitivity - floor') * (1 - decay)^streak`, where
 * `floor' = min(floor, sensitivity)` (fatigue never makes a reviewer better).
 *
 * @example
 * effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.5 }, 0) // 0.9
 * effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.5 }, 1) // 0.86
 */
export function effectiveSensitivity(
  sensitivity: number,
  fatigue: { decayPerApproval: number; floor: number },
  streak: number,
): number {
  const floor = Math.min(fatigue.floor, sensitivity);
  return floor + (sensitivity - floor) * (1 - fatigue.decayPerApproval) ** streak;
}

/**
 * What the simulated reviewer decided and why, for tests and analysis.
 *
 * @example
 * const last: ReviewOutcome | undefined = reviewer.lastOutcome;
 */
export interface ReviewOutcome {
  inspection: Inspection;
  sensitivity: number;
  draw: number;
  approved: boolean;
  latencyMs: number;
}

/**
 * What a reviewer model concluded about one request, before latency and
 * time-outs: the hook {@link SimulatedReviewer} subclasses replace.
 *
 * @example
 * const j: ReviewJudgement = { inspection: { erroneous: false, findings: [] }, draw: 0.3, approved: true };
 */
export interface ReviewJudgement {
  inspection: Inspection;
  draw: number;
  approved: boolean;
}

/**
 * A simulated human reviewer, as an ApprovalBackend: the experiment runner
 * sends it exactly what it would send a person, and a live channel (the
 * terminal today, the approval hub once it exists) can take its place.
 *
 * The model, precisely:
 *
 * 1. The reviewer reads the request: the action and the task in
 *    `request.context.task` (the instruction the agent was given; a person at
 *    an approval card sees both). It never sees the injector's label.
 * 2. It inspects the action with the scenario's `inspect(action, task)`: the
 *    checks a careful person makes from what is on screen (right tool? right
 *    recipient, record, amount, path? any credential?). The result is
 *    "looks wrong" or "looks right".
 * 3. It then errs at the configured rates: if the action looks wrong it
 *    rejects with probability `sensitivity_eff`; if it looks right it
 *    approves with probability `specificity`. So sensitivity and
 *    specificity are exactly the parameters' values whenever the scenario's
 *    inspection is complete (the tests check it is, for every injected kind).
 * 4. Fatigue: after `s` approvals in a row, `sensitivity_eff =
 *    effectiveSensitivity(sensitivity, fatigue, s)`; a rejection resets `s`.
 *    Specificity does not decay: a tired reviewer rubber-stamps, it does not
 *    start rejecting good work.
 * 5. Latency is lognormal: `medianMs * exp(sigma * z)`, z standard normal,
 *    rounded to whole ms. It is recorded, not slept, unless `realtime`. A
 *    request whose `timeoutMs` is shorter than the latency times out
 *    (`simulated:timeout`, not approved, latency = timeoutMs).
 *
 * Every draw is keyed by (seed, action id, purpose): the same action gets the
 * same coin in every process and every condition (common random numbers).
 *
 * @example
 * const reviewer = new SimulatedReviewer(scenario, { sensitivity: 0.9, specificity: 0.95, seed: 42 });
 * const decision = await reviewer.requestApproval(request); // request.context.task holds the task
 * decision.decidedBy // 'simulated:reviewer'
 */
export class SimulatedReviewer implements ApprovalBackend {
  readonly name = 'simulated';
  readonly config: ReviewerConfig;
  /** The last review, for tests and debugging (not part of the Decision). */
  lastOutcome: ReviewOutcome | undefined;
  private readonly scenario: AnyScenario;
  private streak = 0;

  constructor(scenario: AnyScenario, config: ReviewerConfigInput = {}) {
    this.scenario = scenario;
    this.config = ReviewerConfig.parse(config);
  }

  /** Approvals in a row so far (the fatigue state). */
  get approvalStreak(): number {
    return this.streak;
  }

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    if (options.signal?.aborted) throw abortError(options.signal);
    const task = this.taskOf(request);
    const c = this.config;
    const key = request.action.id;
    const sensitivity = effectiveSensitivity(c.sensitivity, c.fatigue, this.streak);
    const { inspection, draw, approved } = this.judge(request, task, sensitivity);
    const z = standardNormal(
      keyedUniform(c.seed, 'review', key, 'latency-1'),
      keyedUniform(c.seed, 'review', key, 'latency-2'),
    );
    const latencyMs = Math.max(1, Math.round(lognormal(c.latency.medianMs, c.latency.sigma, z)));
    this.lastOutcome = { inspection, sensitivity, draw, approved, latencyMs };

    const timeoutMs = options.timeoutMs;
    const timedOut = timeoutMs !== undefined && timeoutMs < latencyMs;
    if (c.realtime) {
      try {
        await sleep(timedOut ? timeoutMs : latencyMs, undefined, { signal: options.signal });
      } catch {
        throw abortError(options.signal);
      }
    }
    const base = {
      actionId: request.action.id,
      tags: ['simulated'],
      argsHash: argsHash(request.action.toolArgs),
      decidedAt: new Date().toISOString(),
    };
    if (timedOut) {
      // A timeout is not a judgement: it leaves the fatigue streak alone.
      return {
        ...base,
        approved: false,
        reason: `Timed out after ${timeoutMs} ms; the simulated reviewer had not decided. No human rejected this call.`,
        decidedBy: 'simulated:timeout',
        latencyMs: timeoutMs,
      };
    }
    this.observe(approved);
    return {
      ...base,
      approved,
      reason: approved
        ? 'Looks right to the reviewer.'
        : inspection.erroneous
          ? `Rejected: ${inspection.findings[0] ?? 'does not match the task'}.`
          : 'Rejected: the reviewer was not confident the action matches the task.',
      decidedBy: this.decidedBy,
      latencyMs,
    };
  }

  /** `decided_by` of this model's judgements. */
  protected get decidedBy(): string {
    return 'simulated:reviewer';
  }

  /** The scenario the reviewer judges actions of. */
  protected get scenarioUnderReview(): AnyScenario {
    return this.scenario;
  }

  /**
   * The coin-flip model: the scenario's complete inspection, then a wrong
   * action is rejected with probability `sensitivity` (after fatigue) and a
   * right one approved with probability `specificity`.
   */
  protected judge(request: ApprovalRequest, task: TaskBase, sensitivity: number): ReviewJudgement {
    const inspection = this.scenario.inspect(request.action, task);
    const draw = keyedUniform(this.config.seed, 'review', request.action.id, 'decide');
    const approved = inspection.erroneous ? draw >= sensitivity : draw < this.config.specificity;
    return { inspection, draw, approved };
  }

  /**
   * Feeds a decision made in an earlier (crashed) process back into the
   * fatigue state, so a resumed experiment continues exactly where it stopped.
   *
   * @example
   * for (const r of completed) if (r.approval_requested) reviewer.replayDecision(r.approved === true, r.decided_by);
   */
  replayDecision(approved: boolean, decidedBy = 'simulated:reviewer'): void {
    if (!decidedBy.endsWith(':timeout')) this.observe(approved);
  }

  private observe(approved: boolean): void {
    this.streak = approved ? this.streak + 1 : 0;
  }

  private taskOf(request: ApprovalRequest): TaskBase {
    const parsed = this.scenario.taskSchema.safeParse(request.context.task);
    if (!parsed.success) {
      throw new TypeError(
        `SimulatedReviewer: request ${request.action.id} carries no valid ${this.scenario.name} task in context.task; ` +
          'the reviewer judges actions against the task, so the runner must send it',
      );
    }
    return parsed.data;
  }
}

/**
 * A reviewer whose fatigue state can be restored on resume. The runner calls
 * `replayDecision` for every completed trial that went to review.
 *
 * @example
 * if (isReplayableReviewer(backend)) backend.replayDecision(true);
 */
export interface ReplayableReviewer {
  replayDecision(approved: boolean, decidedBy?: string): void;
}

/**
 * True when a backend keeps state that must be replayed on resume.
 *
 * @example
 * isReplayableReviewer(new SimulatedReviewer(scenario)) // true
 */
export function isReplayableReviewer(
  backend: ApprovalBackend,
): backend is ApprovalBackend & ReplayableReviewer {
  return typeof (backend as Partial<ReplayableReviewer>).replayDecision === 'function';
}

/**
 * Wraps a live channel (the terminal's CLIBackend today, the approval hub
 * when it lands) so the person first reads the task the agent was given:
 * without it they could not tell a wrong recipient from a right one.
 *
 * @example
 * const live = withTaskBriefing(new CLIBackend(), (text) => process.stderr.write(text));
 */
export function withTaskBriefing(
  backend: ApprovalBackend,
  write: (text: string) => void,
): ApprovalBackend {
  return {
    name: backend.name,
    async requestApproval(request, options) {
      const task = request.context.task as Partial<TaskBase> | undefined;
      if (task?.description) write(`\nTask given to the agent: ${task.description}\n`);
      return backend.requestApproval(request, options);
    },
    ...(backend.close ? { close: () => backend.close!() } : {}),
  };
}

/**
 * Shows a remote reviewer (the approval hub, whose cards show the agent's
 * rationale) the task the agent was given, by putting it in front of the
 * rationale. The injection label is never part of it.
 *
 * @example
 * const reviewer = withTaskAsRationale(new HubBackend(hub));
 */
export function withTaskAsRationale(backend: ApprovalBackend): ApprovalBackend {
  return {
    name: backend.name,
    requestApproval(request, options) {
      const task = request.context.task as Partial<TaskBase> | undefined;
      if (!task?.description) return backend.requestApproval(request, options);
      const own = request.action.rationale ? ` Agent's reason: ${request.action.rationale}` : '';
      const action = {
        ...request.action,
        rationale: `Task given to the agent: ${task.description}.${own}`,
      };
      return backend.requestApproval({ ...request, action }, options);
    },
    ...(backend.close ? { close: () => backend.close!() } : {}),
  };
}
