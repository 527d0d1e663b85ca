import type { Action } from '../models/action.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import { type Decision, isTimeoutDecision } from '../models/decision.js';
import type { ToolResult } from '../models/tool-result.js';
import type { PolicyDecision } from '../policies/policy.js';
import { argsHash } from '../util/canonical-json.js';

// Payload keys are the seed's snake_case names so analysis code written for
// the Python hitloop reads our files unchanged: every key the seed wrote for
// an event type is present (with `null` when unknown), under the seed's name,
// and first; extras we add come after and are left out when absent. The one
// seed key left out on purpose is action_proposed's `injected_error`: the
// ground truth is logged as its own `injected_error` event after the run
// ends, so nothing on the decision path can read it (docs/experiments.md).

/**
 * A trace event payload: a JSON object with snake_case keys.
 *
 * @example
 * const payload: TracePayload = { model: 'gpt-4o', latency_ms: 812 };
 */
export type TracePayload = Record<string, unknown>;

/**
 * Payload of an `action_proposed` event.
 *
 * @example
 * actionProposedPayload(action) // { action_id: 'a1', tool_name: 'send_email', tool_args: {...}, risk_class: 'high', ... }
 */
export function actionProposedPayload(action: Action): TracePayload {
  const payload: TracePayload = {
    action_id: action.id,
    tool_name: action.toolName,
    // The full SHA-256 of the canonical arguments: the hash a decision binds
    // to (the seed's was the first 16 hex digits of its own serialisation).
    args_hash: argsHash(action.toolArgs),
    risk_class: action.riskClass,
    side_effects: action.sideEffects,
    tool_args: action.toolArgs,
    rationale: action.rationale,
    context_refs: action.contextRefs,
  };
  if (action.server !== undefined) payload.server = action.server;
  if (action.annotations !== undefined) payload.annotations = action.annotations;
  return payload;
}

/**
 * Payload of an `action_proposed` event with the policy's verdict on it, as
 * the gates log it.
 *
 * @example
 * actionVerdictPayload(action, 'risk_based', { verdict: 'ask', reason: 'high risk' }) // { ..., policy_verdict: 'ask', policy_rule: null }
 */
export function actionVerdictPayload(
  action: Action,
  policyName: string,
  verdict: PolicyDecision,
): TracePayload {
  // Added to the fresh object rather than spread into a copy: this runs for every call.
  const payload = actionProposedPayload(action);
  payload.policy_name = policyName;
  payload.policy_verdict = verdict.verdict;
  payload.policy_reason = verdict.reason;
  payload.policy_rule = verdict.rule ?? null;
  return payload;
}

/**
 * Payload of an `approval_requested` event. `channel` is where the request
 * goes (the seed's key; e.g. `hub`, `cli`, `webhook`, `experiment`).
 *
 * @example
 * approvalRequestedPayload(request, 'hub') // { action_id, channel, policy_name, policy_reason, requested_at, tool_name, ... }
 */
export function approvalRequestedPayload(
  request: ApprovalRequest,
  channel = 'unknown',
): TracePayload {
  const payload: TracePayload = {
    action_id: request.action.id,
    channel,
    policy_name: request.policyName,
    policy_reason: request.policyReason,
    requested_at: request.createdAt,
    tool_name: request.action.toolName,
    tool_args: request.action.toolArgs,
    risk_class: request.action.riskClass,
    created_at: request.createdAt,
    expires_at: request.expiresAt ?? null,
  };
  if (request.action.server !== undefined) payload.server = request.action.server;
  return payload;
}

/**
 * What a decision alone does not say but analysis wants next to it.
 *
 * @example
 * approvalDecidedPayload(decision, { toolName: 'send_email', policyName: 'risk_based', policyReason: 'high risk' });
 */
export interface DecisionContext {
  /** Where the decision came from (the seed's `channel`); default: decidedVia, else the decidedBy prefix. */
  channel?: string;
  toolName?: string;
  policyName?: string;
  policyReason?: string;
}

/**
 * Payload of an `approval_decided` event. `timed_out` separates a timeout
 * from a human rejection, which the seed could not.
 *
 * A decision logged without `decidedBy` or `latencyMs` (decisions from the
 * approval gate always have both) is written as the seed wrote its defaults:
 * `decided_by` `<channel>:unknown` (or `unknown`), `latency_ms` 0, which
 * the seed's metrics read as "not measured" (they average latencies > 0).
 *
 * @example
 * approvalDecidedPayload(decision, { toolName: 'send_email', policyName: 'risk_based' })
 * // { action_id, approved, reason, decided_by, latency_ms, edited_args, timed_out, tool_name, policy_name, ... }
 */
export function approvalDecidedPayload(
  decision: Decision,
  context: DecisionContext = {},
): TracePayload {
  const payload: TracePayload = {
    action_id: decision.actionId,
    approved: decision.approved,
    reason: decision.reason,
    tags: decision.tags,
    decided_by: decision.decidedBy ?? (context.channel ? `${context.channel}:unknown` : 'unknown'),
    latency_ms: decision.latencyMs ?? 0,
    channel: context.channel ?? decisionChannel(decision),
    decided_at: decision.decidedAt ?? new Date().toISOString(),
    edited_args: decision.editedArgs ?? null,
    timed_out: isTimeoutDecision(decision),
  };
  if (decision.argsHash !== undefined) payload.args_hash = decision.argsHash;
  if (decision.decidedVia !== undefined) payload.decided_via = decision.decidedVia;
  if (context.toolName !== undefined) payload.tool_name = context.toolName;
  if (context.policyName !== undefined) payload.policy_name = context.policyName;
  if (context.policyReason !== undefined) payload.policy_reason = context.policyReason;
  return payload;
}

/**
 * The channel of a decision: where it says it came from, else the part of
 * `decidedBy` before the first colon (`cli:alice` gives `cli`).
 *
 * @example
 * decisionChannel({ decidedBy: 'simulated:reviewer' } as Decision) // 'simulated'
 */
export function decisionChannel(decision: Pick<Decision, 'decidedBy' | 'decidedVia'>): string {
  if (decision.decidedVia !== undefined) return decision.decidedVia;
  const by = decision.decidedBy ?? '';
  const colon = by.indexOf(':');
  return colon > 0 ? by.slice(0, colon) : by || 'unknown';
}

/**
 * Payload of a `tool_execution_start` event. Pass the arguments that will
 * actually run (edited ones, if a human edited them).
 *
 * @example
 * toolExecutionStartPayload(action, decision.editedArgs) // { action_id, tool_name, tool_args }
 */
export function toolExecutionStartPayload(
  action: Action,
  argsToRun: Record<string, unknown> = action.toolArgs,
): TracePayload {
  return { action_id: action.id, tool_name: action.toolName, tool_args: argsToRun };
}

/**
 * Payload of a `tool_execution_end` event. The tool's output is left out
 * unless asked for: it can be large and may hold data a study must not keep.
 *
 * @example
 * toolExecutionEndPayload(result) // { action_id, success, error, error_class, retry_count, execution_time_ms, duration_ms, executed }
 */
export function toolExecutionEndPayload(
  result: ToolResult,
  options: { includeOutput?: boolean } = {},
): TracePayload {
  const payload: TracePayload = {
    action_id: result.actionId,
    success: result.success,
    error: result.error ?? null,
    error_class: null,
    retry_count: 0,
    execution_time_ms: result.durationMs,
    duration_ms: result.durationMs,
    executed: result.executed,
  };
  if (options.includeOutput && result.output !== undefined) payload.output = result.output;
  return payload;
}

/**
 * Payload of an `error` event from anything thrown, plus context keys the
 * caller supplies (already snake_case): the seed's `error_type`,
 * `error_message` and `context` (holding those keys), then the same keys at
 * the top level and `error` (the message), as hitloop wrote them before.
 *
 * @example
 * errorPayload(new TypeError('bad'), { action_id: 'a1' })
 * // { error_type: 'TypeError', error_message: 'bad', context: { action_id: 'a1' }, error: 'bad', action_id: 'a1' }
 */
export function errorPayload(error: unknown, extra: TracePayload = {}): TracePayload {
  const message = error instanceof Error ? error.message : String(error);
  const type = error instanceof Error ? error.name : typeof error;
  return { error_type: type, error_message: message, context: extra, error: message, ...extra };
}

/**
 * What an LLM call cost, for {@link llmCallPayload}.
 *
 * @example
 * const call: LlmCall = { model: 'gpt-4o-mini', tokensIn: 812, tokensOut: 64, latencyMs: 930 };
 */
export interface LlmCall {
  promptHash?: string;
  templateId?: string;
  tokensIn?: number;
  tokensOut?: number;
  latencyMs?: number;
  model?: string;
}

/**
 * Payload of an `llm_call` event, with the seed's keys (every one present,
 * null when unknown); the seed's `cost_proxy` sums `tokens_in + tokens_out`.
 *
 * @example
 * llmCallPayload({ model: 'gpt-4o-mini', tokensIn: 812, tokensOut: 64 })
 * // { prompt_hash: null, template_id: null, tokens_in: 812, tokens_out: 64, latency_ms: null, model: 'gpt-4o-mini' }
 */
export function llmCallPayload(call: LlmCall): TracePayload {
  return {
    prompt_hash: call.promptHash ?? null,
    template_id: call.templateId ?? null,
    tokens_in: call.tokensIn ?? null,
    tokens_out: call.tokensOut ?? null,
    latency_ms: call.latencyMs ?? null,
    model: call.model ?? null,
  };
}
