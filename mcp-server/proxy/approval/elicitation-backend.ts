import type { ApprovalBackend, ApprovalOptions } from '../../../shared/backends/backend.js';
import { abortError } from '../../../shared/backends/backend.js';
import type { ApprovalRequest } from '../../../shared/models/approval-request.js';
import type { Decision, DecisionChannel } from '../../../shared/models/decision.js';
import { argsHash } from '../../../shared/util/canonical-json.js';
import { formatArgsForDisplay, makeVisible } from '../../../shared/util/visible-text.js';
import type { JsonRpcId } from '../jsonrpc/messages.js';

/** What the backend needs from the client connection. */
export interface ElicitationChannel {
  requestClient(
    method: string,
    params: Record<string, unknown>,
    options?: { signal?: AbortSignal; relatedRequestId?: JsonRpcId },
  ): Promise<Record<string, unknown>>;
}

/**
 * Asks through the MCP client's own `elicitation/create` form, so a client
 * that supports elicitation (VS Code, Cursor, the Inspector) shows the
 * approval in its own UI. Approve / reject, an optional reason, and the
 * arguments as editable JSON.
 *
 * @example
 * const backend = new ElicitationBackend(session, 600_000);
 */
export class ElicitationBackend implements ApprovalBackend {
  readonly name = 'elicitation';

  constructor(
    private readonly channel: ElicitationChannel,
    private readonly defaultTimeoutMs: number,
  ) {}

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    // A listener added to an already aborted signal never fires: a call the
    // client withdrew before this point would get a form nobody withdraws.
    if (options.signal?.aborted) throw abortError(options.signal);
    const action = request.action;
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
    const onAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const decide = formDecider(action, 'elicitation', 'mcp-elicitation');
    try {
      const result = await this.channel.requestClient(
        'elicitation/create',
        approvalFormParams(request),
        {
          signal: controller.signal,
          relatedRequestId: request.context.clientRequestId as JsonRpcId | undefined,
        },
      );
      const answer = readApprovalForm(result, action.toolArgs, options.validateArgs);
      return decide(answer.approved, answer.reason, 'elicitation:user', answer.editedArgs);
    } catch (err) {
      if (options.signal?.aborted) throw abortError(options.signal);
      if (controller.signal.aborted) {
        return decide(
          false,
          `no decision within ${Math.round(timeoutMs / 1000)} s; no human rejected this call`,
          'elicitation:timeout',
        );
      }
      return decide(
        false,
        `the client could not show the approval form: ${(err as Error).message}`,
        'elicitation:unavailable',
      );
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * The approval form's `elicitation/create` params: the call in full, and
 * Approve / Reject, a reason, and the arguments as editable JSON. Shared by
 * the elicitation channel (2025-era clients) and the MRTR channel (2026-07-28).
 *
 * @example
 * requestClient('elicitation/create', approvalFormParams(request));
 */
export function approvalFormParams(request: ApprovalRequest): Record<string, unknown> {
  const argsJson = JSON.stringify(request.action.toolArgs);
  return {
    message: approvalMessage(request),
    requestedSchema: {
      type: 'object',
      properties: {
        decision: {
          type: 'string',
          title: 'Decision',
          enum: ['approve', 'reject'],
          enumNames: ['Approve', 'Reject'],
        },
        reason: { type: 'string', title: 'Reason (told to the agent when you reject)' },
        arguments: {
          type: 'string',
          title: 'Arguments as JSON (edit to change what runs; leave empty to keep them)',
          description: argsJson.length <= 2000 ? argsJson : undefined,
        },
      },
      required: ['decision'],
    },
  };
}

/** What a person answered in the approval form. */
export interface FormAnswer {
  approved: boolean;
  reason: string;
  editedArgs?: Record<string, unknown>;
}

/**
 * Reads an `elicitation/create` result of the approval form: only an accepted
 * form with decision "approve" approves; edited arguments must be a JSON
 * object that passes `validateArgs`, or the call is rejected, never run.
 *
 * @example
 * readApprovalForm({ action: 'accept', content: { decision: 'approve' } }, args) // { approved: true, reason: '' }
 */
export function readApprovalForm(
  result: Record<string, unknown>,
  toolArgs: Record<string, unknown>,
  validateArgs?: (args: Record<string, unknown>) => string[],
): FormAnswer {
  const argsJson = JSON.stringify(toolArgs);
  const content = (
    result.content && typeof result.content === 'object' ? result.content : {}
  ) as Record<string, unknown>;
  const reason = typeof content.reason === 'string' ? content.reason.trim() : '';
  if (result.action === 'decline')
    return { approved: false, reason: reason || 'declined in the client' };
  if (result.action !== 'accept')
    return { approved: false, reason: 'the approval form was dismissed without a decision' };
  if (content.decision !== 'approve')
    return { approved: false, reason: reason || '(no reason given)' };
  const edited = typeof content.arguments === 'string' ? content.arguments.trim() : '';
  if (!edited || edited === argsJson) return { approved: true, reason };
  let parsed: unknown;
  try {
    parsed = JSON.parse(edited);
  } catch (err) {
    return {
      approved: false,
      reason: `the edited arguments are not valid JSON (${(err as Error).message}); nothing was run`,
    };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    return {
      approved: false,
      reason: 'the edited arguments must be a JSON object; nothing was run',
    };
  const problems = validateArgs?.(parsed as Record<string, unknown>) ?? [];
  if (problems.length)
    return {
      approved: false,
      reason: `the edited arguments do not match the tool's schema: ${problems.join('; ')}`,
    };
  return { approved: true, reason, editedArgs: parsed as Record<string, unknown> };
}

function approvalMessage(request: ApprovalRequest): string {
  const a = request.action;
  const lines = [
    `hitloop: approve this tool call?`,
    ``,
    `Tool: ${makeVisible(a.server ? `${a.server} / ${a.toolName}` : a.toolName)}`,
    `Risk: ${a.riskClass}`,
    `Why you are asked: ${makeVisible(request.policyReason || request.policyName)}`,
  ];
  if (a.rationale) lines.push(`Agent's reason: ${makeVisible(a.rationale)}`);
  lines.push(
    '',
    'Arguments:',
    formatArgsForDisplay(a.toolArgs),
    '',
    `Arguments hash: ${argsHash(a.toolArgs)}`,
  );
  return lines.join('\n');
}

/**
 * Makes the decisions of one approval asked through the client's form (the
 * elicitation and MRTR channels): latency from now, the channel's tag, and
 * `decidedVia` only for the user's own answer (a timeout came through no
 * client), bound to the arguments that will run.
 *
 * @example
 * const decide = formDecider(action, 'elicitation', 'mcp-elicitation');
 * decide(true, '', 'elicitation:user', { path: 'b.txt' }).editedArgs // { path: 'b.txt' }
 */
export function formDecider(
  action: ApprovalRequest['action'],
  tag: string,
  via: DecisionChannel,
): (
  approved: boolean,
  reason: string,
  decidedBy: string,
  editedArgs?: Record<string, unknown>,
) => Decision {
  const started = performance.now();
  return (approved, reason, decidedBy, editedArgs) => ({
    actionId: action.id,
    approved,
    reason,
    decidedBy,
    latencyMs: performance.now() - started,
    tags: [tag],
    ...(decidedBy.endsWith(':user') ? { decidedVia: via } : {}),
    argsHash: argsHash(editedArgs ?? action.toolArgs),
    decidedAt: new Date().toISOString(),
    ...(editedArgs ? { editedArgs } : {}),
  });
}
