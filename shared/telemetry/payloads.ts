import type { Action } from '../models/action.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import type { ToolResult } from '../models/tool-result.js';
import type { PolicyDecision } from '../policies/policy.js';

// Payload keys are the seed's snake_case names so analysis code written for
// the Python hitloop reads our files unchanged. Keys that the seed always
// wrote are present with `null` when unknown (a stable set of columns for
// pandas); extras we add are left out when absent.

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
    tool_args: action.toolArgs,
    risk_class: action.riskClass,
    side_effects: action.sideEffects,
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
  return {
    ...actionProposedPayload(action),
    policy_name: policyName,
    policy_verdict: verdict.verdict,
    policy_reason: verdict.reason,
    policy_rule: verdict.rule ?? null,
  };
}

/**
 * Payload of an `approval_requested` event.
 *
 * @example
 * approvalRequestedPayload(request) // { action_id, tool_name, tool_args, risk_class, policy_name, policy_reason, created_at, expires_at }
 */
export function approvalRequestedPayload(request: ApprovalRequest): TracePayload {
  const payload: TracePayload = {
    action_id: request.action.id,
    tool_name: request.action.toolName,
    tool_args: request.action.toolArgs,
    risk_class: request.action.riskClass,
    policy_name: request.policyName,
    policy_reason: request.policyReason,
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
  toolName?: string;
  policyName?: string;
  policyReason?: string;
}

/**
 * Payload of an `approval_decided` event. `timed_out` separates a timeout
 * from a human rejection, which the seed could not.
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
    decided_by: decision.decidedBy,
    latency_ms: decision.latencyMs,
    edited_args: decision.editedArgs ?? null,
    timed_out: decision.decidedBy.endsWith(':timeout'),
    tags: decision.tags,
  };
  if (decision.argsHash !== undefined) payload.args_hash = decision.argsHash;
  if (decision.decidedAt !== undefined) payload.decided_at = decision.decidedAt;
  if (decision.decidedVia !== undefined) payload.decided_via = decision.decidedVia;
  if (context.toolName !== undefined) payload.tool_name = context.toolName;
  if (context.policyName !== undefined) payload.policy_name = context.policyName;
  if (context.policyReason !== undefined) payload.policy_reason = context.policyReason;
  return payload;
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
 * toolExecutionEndPayload(result) // { action_id, success, error, duration_ms, executed }
 */
export function toolExecutionEndPayload(
  result: ToolResult,
  options: { includeOutput?: boolean } = {},
): TracePayload {
  const payload: TracePayload = {
    action_id: result.actionId,
    success: result.success,
    error: result.error ?? null,
    duration_ms: result.durationMs,
    executed: result.executed,
  };
  if (options.includeOutput && result.output !== undefined) payload.output = result.output;
  return payload;
}

/**
 * Payload of an `error` event from anything thrown, plus context keys the
 * caller supplies (already snake_case).
 *
 * @example
 * errorPayload(new TypeError('bad'), { action_id: 'a1' }) // { error: 'bad', error_type: 'TypeError', action_id: 'a1' }
 */
export function errorPayload(error: unknown, extra: TracePayload = {}): TracePayload {
  const message = error instanceof Error ? error.message : String(error);
  const type = error instanceof Error ? error.name : typeof error;
  return { error: message, error_type: type, ...extra };
}
