import type { ApprovalBackend } from '../backends/backend.js';
import { type GateOutcome, gateAction, notExecutedMessage } from '../gate/approval-gate.js';
import type { ApprovalHub } from '../hub/approval-hub.js';
import { type ActionInput, createAction } from '../models/action.js';
import type { HITLPolicy, PolicyContext } from '../policies/policy.js';
import type { TelemetryLogger } from '../telemetry/logger.js';
import { errorPayload } from '../telemetry/payloads.js';
import { uuidv7 } from '../util/uuidv7.js';
import { actionIdFor, ensureRun, KeyedLogger, runIdFor } from './ids.js';
import {
  DEFAULT_INTERRUPT_CONFIG,
  InterruptBackend,
  type OnRefusedResume,
  ResumeRefusedError,
} from './interrupt-backend.js';
import { ResumableHubBackend } from './resumable-hub-backend.js';
import type { HumanInterruptConfig } from './resume-value.js';

/** How the gate reaches a human. */
export type HitlMode = 'interrupt' | 'backend';

/** Options shared by createHitlGateNode and withApproval. */
export interface HitlGateOptions {
  policy: HITLPolicy;
  /** Telemetry: one run per thread (`langgraph:<thread_id>`), events keyed by tool-call id. */
  logger?: TelemetryLogger;
  /** `interrupt` (default): pause the graph with `interrupt()`. `backend`: await `backend` or `hub`. */
  mode?: HitlMode;
  /** For `mode: 'backend'`: any ApprovalBackend (CLI, webhook, scripted, ...). */
  backend?: ApprovalBackend;
  /** For `mode: 'backend'`: send requests to this hub (the VS Code sidebar); a decided request is not asked again. */
  hub?: ApprovalHub;
  /** For `mode: 'interrupt'`: which Agent Inbox answers are allowed. Default: all. */
  interruptConfig?: HumanInterruptConfig;
  /** Risk class, rationale, side effects... for a tool call; the policy sees them. */
  describeAction?: (
    call: ToolCallLike,
  ) => Partial<Omit<ActionInput, 'id' | 'toolName' | 'toolArgs'>>;
  /** Extra policy context. */
  context?: PolicyContext;
  /** Validates edited arguments; returns problems (empty: valid). */
  validateArgs?: (toolName: string, args: Record<string, unknown>) => string[];
  /** Used when the run config has no thread id. */
  threadId?: string;
  timeoutMs?: number;
}

/** A tool call as it appears on an AIMessage. */
export interface ToolCallLike {
  id: string;
  name: string;
  args: Record<string, unknown>;
  /** Unique in the thread even when the model reuses ids (see callKeyFor); defaults to `id`. */
  key?: string;
}

/**
 * What the gate decided for one tool call. Plain JSON, so it lives in graph
 * state and in any checkpointer.
 */
export interface HitlOutcome {
  toolCallId: string;
  actionId: string;
  toolName: string;
  kind: 'allowed' | 'approved' | 'denied' | 'rejected';
  /** True when the call may run (allowed or approved). */
  execute: boolean;
  /** The arguments to run: proposed or edited. */
  args: Record<string, unknown>;
  edited: boolean;
  /** For a call that must not run: says it was NOT executed and why. */
  message?: string;
  decidedBy?: string;
  reason: string;
}

/**
 * Checks the mode and its channel once, when the node or wrapper is built.
 * `onRefusedResume` says what the interrupt channel does with a resume value
 * it refuses: `throw` (a graph node: the run fails) or `reject` (a tool in a
 * ToolNode: the call is rejected), see InterruptBackend.
 *
 * @example
 * const backend = resolveBackend({ policy, mode: 'backend', hub });
 */
export function resolveBackend(
  options: HitlGateOptions,
  onRefusedResume: OnRefusedResume = 'throw',
): ApprovalBackend {
  const mode = options.mode ?? 'interrupt';
  if (mode === 'interrupt') {
    if (options.backend || options.hub)
      throw new Error(
        "hitloop/langgraph: mode 'interrupt' takes no backend or hub; use mode 'backend'",
      );
    return new InterruptBackend(
      options.interruptConfig ?? DEFAULT_INTERRUPT_CONFIG,
      onRefusedResume,
    );
  }
  if (mode !== 'backend')
    throw new Error(`hitloop/langgraph: unknown mode ${JSON.stringify(mode)}`);
  if (options.backend && options.hub)
    throw new Error('hitloop/langgraph: pass either backend or hub, not both');
  if (options.hub) return new ResumableHubBackend(options.hub, { timeoutMs: options.timeoutMs });
  if (options.backend) return options.backend;
  throw new Error("hitloop/langgraph: mode 'backend' needs a backend or a hub");
}

/**
 * Gates one tool call: policy, then (when the policy asks) the human, with
 * telemetry under deterministic ids. In interrupt mode it throws LangGraph's
 * interrupt on the first run; call it again on resume and it returns.
 */
export async function gateToolCall(
  call: ToolCallLike,
  threadId: string,
  backend: ApprovalBackend,
  options: HitlGateOptions,
): Promise<HitlOutcome> {
  const runId = runIdFor(threadId);
  const actionId = actionIdFor(threadId, call.key ?? call.id);
  const action = {
    ...createAction({
      ...options.describeAction?.(call),
      id: actionId,
      toolName: call.name,
      toolArgs: call.args,
    }),
    // The schema's copy silently drops a top-level "__proto__" key; the gate
    // must see the arguments as the model sent them, to refuse such a call.
    toolArgs: call.args,
  };
  if (options.logger) ensureRun(options.logger, runId, options.policy.name);
  let outcome: GateOutcome;
  try {
    outcome = await gateAction(action, {
      policy: options.policy,
      backend,
      runId,
      logger: options.logger ? new KeyedLogger(options.logger, actionId) : undefined,
      context: { ...options.context, threadId, toolCallId: call.id },
      timeoutMs: options.timeoutMs,
      validateArgs:
        options.validateArgs && ((args) => options.validateArgs?.(call.name, args) ?? []),
    });
  } catch (err) {
    // The request stays open (approval_requested, no decision yet): record
    // why this answer was refused. Each refusal is its own event.
    if (err instanceof ResumeRefusedError)
      options.logger?.logEvent({
        runId,
        eventType: 'error',
        eventId: `${actionId}:resume_refused:${uuidv7()}`,
        payload: errorPayload(err, { action_id: actionId, tool_name: call.name }),
      });
    throw err;
  }
  return toHitlOutcome(call, actionId, outcome);
}

/**
 * The plain-JSON record of what the gate decided for one call, for graph state.
 *
 * @example
 * const outcome = toHitlOutcome(call, actionId, await gateAction(action, gateOptions));
 */
export function toHitlOutcome(
  call: ToolCallLike,
  actionId: string,
  outcome: GateOutcome,
): HitlOutcome {
  const common = { toolCallId: call.id, actionId, toolName: call.name };
  switch (outcome.kind) {
    case 'allowed':
      return {
        ...common,
        kind: 'allowed',
        execute: true,
        args: outcome.args,
        edited: false,
        reason: outcome.policy.reason,
      };
    case 'approved':
      return {
        ...common,
        kind: 'approved',
        execute: true,
        args: outcome.args,
        edited: outcome.edited,
        decidedBy: outcome.decision.decidedBy,
        reason: outcome.decision.reason,
      };
    case 'denied':
      return {
        ...common,
        kind: 'denied',
        execute: false,
        args: call.args,
        edited: false,
        message: notExecutedMessage(outcome),
        reason: outcome.policy.reason,
      };
    case 'rejected':
      return {
        ...common,
        kind: 'rejected',
        execute: false,
        args: call.args,
        edited: false,
        message: notExecutedMessage(outcome),
        decidedBy: outcome.decision.decidedBy,
        reason: outcome.decision.reason,
      };
  }
}
