import {
  _markInvalidResume,
  getConfig,
  interrupt,
  type LangGraphRunnableConfig,
} from '@langchain/langgraph';
import type { ApprovalBackend, ApprovalOptions } from '../backends/backend.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import { peekResume, pendingInterruptCount } from './resume-source.js';
import {
  type HumanInterrupt,
  type HumanInterruptConfig,
  parseResumeValue,
  type ResumeAnswer,
} from './resume-value.js';

/**
 * A resume value hitloop refused: malformed, not allowed by the interrupt's
 * config, or one plain value while several calls wait. Nothing ran; in a
 * graph node the run fails with it and the interrupt can be answered again.
 */
export class ResumeRefusedError extends Error {
  override readonly name = 'ResumeRefusedError';
}

/** What to do with a refused resume value: fail the run, or reject the call. */
export type OnRefusedResume = 'throw' | 'reject';

/** Every answer allowed: accept, edit, respond and ignore. */
export const DEFAULT_INTERRUPT_CONFIG: HumanInterruptConfig = {
  allow_accept: true,
  allow_edit: true,
  allow_respond: true,
  allow_ignore: true,
};

/** The Agent Inbox `HumanInterrupt` for one approval request. */
export function humanInterruptFor(
  request: ApprovalRequest,
  config: HumanInterruptConfig = DEFAULT_INTERRUPT_CONFIG,
): HumanInterrupt {
  const { action } = request;
  const why = request.policyReason ? ` ${request.policyReason}.` : '';
  return {
    action_request: { action: action.toolName, args: action.toolArgs },
    config,
    description: `hitloop: '${action.toolName}' needs approval (policy ${request.policyName}, risk ${action.riskClass}).${why}`,
  };
}

/**
 * An ApprovalBackend whose "human" is LangGraph's `interrupt()`: the first run
 * pauses the graph with an Agent Inbox `HumanInterrupt`; the re-run on resume
 * gets the `Command({ resume })` value and turns it into a Decision. Use it
 * only inside a graph node (or a tool a ToolNode runs).
 *
 * `latencyMs` covers only the resumed run; the time a human took is the gap
 * between the `approval_requested` and `approval_decided` telemetry events.
 */
export class InterruptBackend implements ApprovalBackend {
  readonly name = 'langgraph';

  /**
   * `onRefused`: `throw` (default) fails the node, so the run fails and the
   * interrupt stays open; `reject` (for a tool inside a ToolNode, which would
   * turn a thrown error into a ToolMessage anyway) returns a rejection by
   * `langgraph:invalid_resume`, so the call does not run and the refusal is
   * recorded as its decision.
   */
  constructor(
    private readonly config: HumanInterruptConfig = DEFAULT_INTERRUPT_CONFIG,
    private readonly onRefused: OnRefusedResume = 'throw',
  ) {}

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const started = performance.now();
    const { action } = request;
    let answer: ResumeAnswer;
    try {
      answer = await this.answer(request);
    } catch (err) {
      if (!(err instanceof ResumeRefusedError) || this.onRefused === 'throw') throw err;
      return {
        actionId: action.id,
        approved: false,
        decidedBy: 'langgraph:invalid_resume',
        reason: err.message,
        latencyMs: performance.now() - started,
        tags: ['invalid_resume'],
        argsHash: argsHash(action.toolArgs),
        decidedAt: new Date().toISOString(),
      };
    }
    const base = {
      actionId: action.id,
      decidedBy: 'langgraph:reviewer',
      latencyMs: performance.now() - started,
      tags: [] as string[],
      argsHash: argsHash(action.toolArgs),
      decidedAt: new Date().toISOString(),
    };
    if (answer.kind === 'accept') return { ...base, approved: true, reason: '' };
    if (answer.kind === 'reject')
      return { ...base, approved: false, reason: answer.reason, tags: [`resume:${answer.via}`] };
    if (answer.toolName !== action.toolName) {
      return {
        ...base,
        approved: false,
        reason: `the edit named tool '${answer.toolName}', not '${action.toolName}'; an edit may change arguments only`,
        tags: ['invalid_edit'],
      };
    }
    const problems = options.validateArgs?.(answer.args) ?? [];
    if (problems.length > 0) {
      return {
        ...base,
        approved: false,
        reason: `the edited arguments are invalid: ${problems.join('; ')}`,
        tags: ['invalid_edit'],
      };
    }
    return { ...base, approved: true, reason: '', editedArgs: answer.args, tags: ['edited'] };
  }

  /**
   * The reviewer's answer for this call. The resume value is checked before
   * `interrupt()` consumes it, so a refused value leaves the interrupt open.
   */
  private answer(request: ApprovalRequest): Promise<ResumeAnswer> {
    return checkedInterrupt(
      humanInterruptFor(request, this.config),
      (value) => parseResumeValue(value, this.config),
      (pending) =>
        `hitloop/langgraph: ${pending} calls are waiting for a decision and Command({ resume }) gave one value without saying which call it is for, so hitloop applied it to none ('${request.action.toolName}' did not run). Resume each call by its interrupt id: Command({ resume: { [interrupt.id]: value, ... } }), with the ids from result.__interrupt__ or getState().tasks[].interrupts.`,
    );
  }
}

/**
 * `interrupt(payload)`, with its answer parsed by `parse`. The resume value is
 * checked before `interrupt()` consumes it, so a refused value (one `parse`
 * throws on, or one plain value while several interrupts wait) leaves the
 * interrupt open to be answered again, and nothing runs on it.
 *
 * @example
 * const answer = await checkedInterrupt(request, parseHitlResponse, (n) => `${n} interrupts wait; resume by id`);
 */
export async function checkedInterrupt<T>(
  payload: unknown,
  parse: (value: unknown) => T,
  ambiguous: (pending: number) => string,
): Promise<T> {
  const config = currentConfig();
  const source = peekResume(config);
  if (source && source.kind !== 'none') {
    if (source.kind === 'global') {
      const pending = await pendingInterruptCount(config);
      if (pending !== undefined && pending > 1) throw refusedResume(ambiguous(pending));
    }
    parseOrRefuse(source.value, parse);
  }
  return parseOrRefuse(interrupt(payload), parse);
}

function parseOrRefuse<T>(value: unknown, parse: (value: unknown) => T): T {
  try {
    return parse(value);
  } catch (err) {
    throw refusedResume(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The running graph task's config, or undefined outside one.
 *
 * @example
 * threadIdOf(currentConfig(), fallback)
 */
export function currentConfig(): LangGraphRunnableConfig | undefined {
  try {
    return getConfig();
  } catch {
    return undefined;
  }
}

/**
 * A ResumeRefusedError marked as LangGraph's invalid resume, so a node that
 * throws it fails the run and leaves its interrupt open to be answered again.
 *
 * @example
 * throw refusedResume('hitloop/langchain: 1 decision for 2 calls');
 */
export function refusedResume(message: string): ResumeRefusedError {
  const error = new ResumeRefusedError(message);
  // LangGraph then fails the run once the step's other tasks finish, and
  // keeps the interrupt open so it can be answered again.
  _markInvalidResume(error);
  return error;
}
