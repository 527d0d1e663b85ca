import type { ApprovalBackend } from '../backends/backend.js';
import type { Action } from '../models/action.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import { type RecordedDecision, recordDecision } from '../models/decision.js';
import type { HITLPolicy, PolicyContext, PolicyDecision } from '../policies/policy.js';
import type { TelemetryLogger } from '../telemetry/logger.js';
import { actionVerdictPayload } from '../telemetry/payloads.js';
import { argsHash } from '../util/canonical-json.js';
import { findUnshowable } from '../util/faithful-args.js';

/**
 * The part of a TelemetryLogger the gate writes to. A wrapper may assign
 * deterministic event ids (the LangGraph adapter does, so a re-run node logs once).
 */
export type GateLogger = Pick<
  TelemetryLogger,
  'logEvent' | 'logApprovalRequested' | 'logApprovalDecided'
> &
  // Optional: a logger that has it builds the proposal's payload itself (the
  // proxy's deferred logger builds it after the call's answer is relayed).
  Partial<Pick<TelemetryLogger, 'logActionVerdict'>>;

/** What the gate needs: a policy, a channel to a human, and (optionally) telemetry. */
export interface GateOptions {
  policy: HITLPolicy;
  backend: ApprovalBackend;
  runId: string;
  logger?: GateLogger;
  /** Extra context for the policy and the approval request (client, workspace, ...). */
  context?: PolicyContext;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Validates edited arguments, e.g. against the tool's inputSchema. */
  validateArgs?: (args: Record<string, unknown>) => string[];
  /**
   * Called when a request waits for a human, e.g. to start progress
   * keep-alives; not when the backend answers it at once (a remembered rule).
   */
  onAsk?: (request: ApprovalRequest) => void;
}

/**
 * The outcome of gating one action. `args` are what must run: the proposed
 * arguments, or the reviewer's edited ones.
 */
export type GateOutcome =
  | { kind: 'allowed'; action: Action; args: Record<string, unknown>; policy: PolicyDecision }
  | {
      kind: 'approved';
      action: Action;
      args: Record<string, unknown>;
      edited: boolean;
      policy: PolicyDecision;
      decision: RecordedDecision;
    }
  | { kind: 'denied'; action: Action; policy: PolicyDecision }
  | { kind: 'rejected'; action: Action; policy: PolicyDecision; decision: RecordedDecision };

/**
 * Runs one proposed action through policy and (when the policy says `ask`)
 * a human, logging each step. It does not execute the tool: the caller runs
 * `outcome.args` when `outcome.kind` is `allowed` or `approved`, so the proxy,
 * the LangGraph adapter and the experiment harness share one decision path.
 *
 * @example
 * const outcome = await gateAction(action, { policy, backend, runId, logger });
 * if (outcome.kind === 'allowed' || outcome.kind === 'approved') await tool(outcome.args);
 * else return notExecutedMessage(outcome);
 */
export async function gateAction(action: Action, options: GateOptions): Promise<GateOutcome> {
  const { policy, backend, runId, logger } = options;
  // What a reviewer sees, what the hash covers and what runs must be the same
  // value: arguments that cannot be shown faithfully never reach the policy.
  const unshowable = findUnshowable(action.toolArgs);
  const verdict: PolicyDecision = unshowable.length
    ? {
        verdict: 'deny',
        rule: UNSHOWABLE_RULE,
        reason: `its arguments cannot be shown faithfully to a reviewer: ${unshowable.join('; ')}. Send plain JSON with no "__proto__" key`,
      }
    : await policy.evaluate(action, { runId, ...options.context });
  if (logger?.logActionVerdict) logger.logActionVerdict(runId, action, policy.name, verdict);
  else
    logger?.logEvent({
      runId,
      eventType: 'action_proposed',
      payload: actionVerdictPayload(action, policy.name, verdict),
    });
  if (verdict.verdict === 'allow')
    return { kind: 'allowed', action, args: action.toolArgs, policy: verdict };
  if (verdict.verdict === 'deny') return { kind: 'denied', action, policy: verdict };

  const now = Date.now();
  const timeoutMs = options.timeoutMs;
  const request: ApprovalRequest = {
    runId,
    action,
    policyName: policy.name,
    policyReason: verdict.reason,
    context: { ...options.context },
    createdAt: new Date(now).toISOString(),
    ...(timeoutMs ? { expiresAt: new Date(now + timeoutMs).toISOString() } : {}),
  };
  // The backend's name is the seed's `channel` (cli, hub, webhook, simulated).
  logger?.logApprovalRequested(runId, request, backend.name);
  const onAsk = options.onAsk;
  if (onAsk && !backend.reportsWaiting) onAsk(request);
  const asked = performance.now();
  const answer = await backend.requestApproval(request, {
    signal: options.signal,
    timeoutMs,
    validateArgs: options.validateArgs,
    onWaiting: onAsk && backend.reportsWaiting ? () => onAsk(request) : undefined,
  });
  // A backend may leave out who decided and how long it took (the seed's
  // Decision defaults); the gate knows the channel and measured the wait.
  const decision = showableEdit(
    boundToArgs(
      recordDecision(answer, { channel: backend.name, latencyMs: performance.now() - asked }),
      action,
    ),
  );
  logger?.logApprovalDecided(runId, decision, {
    channel: backend.name,
    toolName: action.toolName,
    policyName: policy.name,
    policyReason: verdict.reason,
  });
  if (!decision.approved) return { kind: 'rejected', action, policy: verdict, decision };
  const edited = decision.editedArgs !== undefined;
  return {
    kind: 'approved',
    action,
    args: decision.editedArgs ?? action.toolArgs,
    edited,
    policy: verdict,
    decision,
  };
}

/**
 * A decision is bound to the arguments it was made on: an approval of other
 * arguments (a reused id, a stale record) never runs these. Edited
 * arguments are the reviewer's own and run as edited.
 */
function boundToArgs(decision: RecordedDecision, action: Action): RecordedDecision {
  if (
    !decision.approved ||
    decision.editedArgs !== undefined ||
    decision.argsHash === undefined ||
    decision.argsHash === argsHash(action.toolArgs)
  )
    return decision;
  return {
    ...decision,
    approved: false,
    decidedBy: 'system:args_mismatch',
    reason: `the approval was given for other arguments (sha256 ${decision.argsHash.slice(0, 12)}…) than this call's; approve this call itself`,
  };
}

/** The `rule` of the deny verdict for arguments that cannot be shown faithfully. */
export const UNSHOWABLE_RULE = 'hitloop:unshowable-arguments';

/**
 * Edited arguments run as edited, so they must be showable too: an edit
 * carrying a `__proto__` key (from any backend) is refused, not run.
 */
function showableEdit(decision: RecordedDecision): RecordedDecision {
  if (!decision.approved || decision.editedArgs === undefined) return decision;
  const problems = findUnshowable(decision.editedArgs);
  if (!problems.length) return decision;
  return {
    ...decision,
    approved: false,
    decidedBy: 'system:unshowable_edit',
    reason: `the edited arguments cannot be shown faithfully: ${problems.join('; ')}`,
  };
}

/**
 * The text an agent receives when a call did not run. It says plainly that
 * the tool was NOT executed, why, and who decided, and tells a timeout apart
 * from a human rejection, so the agent adapts instead of retrying blindly.
 *
 * @example
 * notExecutedMessage(outcome) // "Tool 'delete_file' was NOT executed: rejected by cli:alice. Reason: wrong file. ..."
 */
export function notExecutedMessage(
  outcome: Extract<GateOutcome, { kind: 'denied' | 'rejected' }>,
): string {
  const tool = outcome.action.server
    ? `${outcome.action.server}/${outcome.action.toolName}`
    : outcome.action.toolName;
  const head = `Tool '${tool}' was NOT executed`;
  if (outcome.kind === 'denied') {
    const rule = outcome.policy.rule ? ` (rule ${outcome.policy.rule})` : '';
    return `${head}: denied by policy${rule}. Reason: ${outcome.policy.reason}. Do not retry the same call; change the approach or ask the user.`;
  }
  const d = outcome.decision;
  const reason = d.reason || '(no reason given)';
  if (d.decidedBy.endsWith(':timeout')) {
    return `${head}: the approval request timed out (${d.decidedBy}); no human rejected it. ${reason} You may retry later or ask the user to review pending approvals.`;
  }
  if (d.decidedBy.endsWith(':unavailable') || d.decidedBy.startsWith('system:')) {
    return `${head}: no reviewer could be reached (${d.decidedBy}). ${reason}`;
  }
  return `${head}: rejected by ${d.decidedBy}. Reason: ${reason}. Do not retry the same call unchanged.`;
}
