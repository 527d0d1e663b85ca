import { interrupt } from '@langchain/langgraph';
import type { ApprovalBackend, ApprovalOptions } from '../backends/backend.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import {
  type HumanInterrupt,
  type HumanInterruptConfig,
  parseResumeValue,
} from './resume-value.js';

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

  constructor(private readonly config: HumanInterruptConfig = DEFAULT_INTERRUPT_CONFIG) {}

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const started = performance.now();
    const value: unknown = interrupt(humanInterruptFor(request, this.config));
    const answer = parseResumeValue(value, this.config);
    const { action } = request;
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
}
