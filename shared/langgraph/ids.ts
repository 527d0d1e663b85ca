import { createHash } from 'node:crypto';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import type { GateLogger } from '../gate/approval-gate.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import type { LogEventInput, TelemetryLogger } from '../telemetry/logger.js';
import { approvalDecidedPayload, approvalRequestedPayload } from '../telemetry/payloads.js';

/**
 * The thread id of a LangGraph run. Resume safety keys everything by it, so
 * the gate refuses to run without one (a checkpointer needs it anyway).
 */
export function threadIdOf(config: LangGraphRunnableConfig | undefined, fallback?: string): string {
  const id = config?.configurable?.thread_id ?? fallback;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new Error(
      'hitloop/langgraph: no thread id. Invoke the graph with { configurable: { thread_id } } (and a checkpointer), or pass threadId in the options.',
    );
  }
  return String(id);
}

/** One telemetry run per thread. */
export function runIdFor(threadId: string): string {
  return `langgraph:${threadId}`;
}

/**
 * The action id of a tool call: the same on every re-run of the node, and
 * safe in a hub URL whatever characters the thread and tool-call ids hold.
 * Pass the call key from {@link callKeyFor}, so a model that reuses tool-call
 * ids (`call_0` on every turn) still gets one action id per call.
 *
 * @example
 * actionIdFor('thread-1', callKeyFor(state.messages, 'call_0')) // 'lg-…'
 */
export function actionIdFor(threadId: string, toolCallId: string): string {
  const digest = createHash('sha256').update(`${threadId}\u0000${toolCallId}`).digest('hex');
  return `lg-${digest.slice(0, 32)}`;
}

/**
 * What identifies one tool call in a thread: its id, qualified by the id of
 * the AIMessage that proposed it (the latest one holding that call id), since
 * models may reuse tool-call ids across turns and the messages reducer gives
 * every stored message a unique id. Without such a message (a pendingAction,
 * a direct call), the tool-call id alone.
 *
 * @example
 * callKeyFor(state.messages, 'call_0') // 'msg-7f…/call_0'
 */
export function callKeyFor(messages: readonly unknown[] | undefined, toolCallId: string): string {
  for (let i = (messages?.length ?? 0) - 1; i >= 0; i -= 1) {
    const m = messages?.[i] as
      | { id?: unknown; tool_calls?: Array<{ id?: unknown }>; getType?: () => string }
      | undefined;
    if (!m || typeof m.getType !== 'function' || m.getType() !== 'ai') continue;
    if (!m.tool_calls?.some((c) => c.id === toolCallId)) continue;
    return typeof m.id === 'string' && m.id.length > 0 ? `${m.id}/${toolCallId}` : toolCallId;
  }
  return toolCallId;
}

/**
 * A logger that gives each event a deterministic id, `<actionId>:<eventType>`.
 * The TelemetryLogger stores an id once, so a node LangGraph re-runs on resume
 * does not log its events twice.
 */
export class KeyedLogger implements GateLogger {
  constructor(
    private readonly logger: TelemetryLogger,
    private readonly key: string,
  ) {}

  logEvent(input: LogEventInput): string {
    return this.logger.logEvent({
      ...input,
      eventId: input.eventId ?? `${this.key}:${input.eventType}`,
    });
  }

  logApprovalRequested(runId: string, request: ApprovalRequest, channel?: string): string {
    return this.logEvent({
      runId,
      eventType: 'approval_requested',
      payload: approvalRequestedPayload(request, channel),
    });
  }

  logApprovalDecided(
    runId: string,
    decision: Decision,
    context?: Parameters<TelemetryLogger['logApprovalDecided']>[2],
  ): string {
    return this.logEvent({
      runId,
      eventType: 'approval_decided',
      payload: approvalDecidedPayload(decision, context),
    });
  }
}

const startedRuns = new WeakMap<TelemetryLogger, Set<string>>();

/**
 * Starts the thread's telemetry run once: not again in this process (the
 * set), nor after a restart (the run row is already in the store).
 */
export function ensureRun(logger: TelemetryLogger, runId: string, condition: string): void {
  let seen = startedRuns.get(logger);
  if (!seen) {
    seen = new Set();
    startedRuns.set(logger, seen);
  }
  if (seen.has(runId)) return;
  if (!logger.getRun(runId)) logger.startRun({ runId, condition, scenario: 'langgraph' });
  seen.add(runId);
}
