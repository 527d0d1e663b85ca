import { createAction } from '../models/action.js';
import type { TelemetryLogger } from '../telemetry/logger.js';
import { toolExecutionEndPayload, toolExecutionStartPayload } from '../telemetry/payloads.js';

/** What running one approved call produced; `content` becomes the ToolMessage. */
export interface ExecutionResult {
  content: string;
  success: boolean;
  error?: string;
}

/** One approved call to run: its telemetry run, action id, tool and the arguments that run. */
export interface LedgerCall {
  runId: string;
  actionId: string;
  toolName: string;
  args: Record<string, unknown>;
}

/** What the ledger holds for one action id. */
export type LedgerEntry =
  | { state: 'none' }
  | { state: 'started' }
  | { state: 'done'; result: ExecutionResult };

/**
 * Runs each approved call at most once per action id, recording it in the
 * telemetry store: `tool_execution_start` before the tool runs and
 * `tool_execution_end` (with the result the agent saw) after. LangGraph
 * re-runs a whole node on resume and after a restart; a call whose end is
 * recorded is replayed from the record instead of run again, and a call whose
 * start is recorded without an end (the process died while it ran) is not run
 * again either, because it may have had its effect.
 *
 * The record lives in the logger's SQLite file, so it survives a restart when
 * the logger is backed by a file (`:memory:` lasts as long as the process).
 * A tool that itself pauses the graph (`interrupt()` inside the tool) is
 * therefore not resumable behind the ledger: its start is recorded, so the
 * re-run refuses to run it again.
 *
 * @example
 * const ledger = new ExecutionLedger(logger);
 * const { content } = await ledger.runOnce({ runId, actionId, toolName: 'send_email', args }, () => send(args));
 */
export class ExecutionLedger {
  constructor(readonly logger: TelemetryLogger) {}

  /** What is recorded for `actionId` in `runId` (flushes buffered events first). */
  lookup(runId: string, actionId: string): LedgerEntry {
    const events = this.logger.getRunEvents(runId);
    const end = events.find((e) => e.eventId === endId(actionId));
    if (end) {
      const p = end.payload as Record<string, unknown>;
      const success = p.success === true;
      const content =
        typeof p.output === 'string'
          ? p.output
          : `Tool '${String(p.tool_name ?? 'tool')}' ran earlier; its result was not recorded.`;
      return {
        state: 'done',
        result: { content, success, ...(typeof p.error === 'string' ? { error: p.error } : {}) },
      };
    }
    if (events.some((e) => e.eventId === startId(actionId))) return { state: 'started' };
    return { state: 'none' };
  }

  /**
   * Runs `execute` unless the call already ran (then returns the recorded
   * result, `replayed: true`) or started without finishing (then refuses).
   * Refuses too when the start cannot be recorded: no record, no run.
   */
  async runOnce(
    call: LedgerCall,
    execute: () => Promise<ExecutionResult>,
  ): Promise<ExecutionResult & { replayed: boolean }> {
    const before = this.lookup(call.runId, call.actionId);
    if (before.state === 'done') return { ...before.result, replayed: true };
    if (before.state === 'started') return { ...interruptedRun(call.toolName), replayed: true };
    const action = createAction({
      id: call.actionId,
      toolName: call.toolName,
      toolArgs: call.args,
    });
    this.logger.logEvent({
      runId: call.runId,
      eventType: 'tool_execution_start',
      eventId: startId(call.actionId),
      payload: toolExecutionStartPayload(action, call.args),
    });
    if (this.lookup(call.runId, call.actionId).state !== 'started') {
      return {
        content: `Tool '${call.toolName}' was NOT executed: hitloop could not record the execution in its telemetry store, and it runs an approved call only once it is recorded (so a re-run cannot run it twice).`,
        success: false,
        replayed: false,
      };
    }
    const started = performance.now();
    let result: ExecutionResult;
    try {
      result = await execute();
    } catch (err) {
      // LangGraph's control flow (an interrupt() or a parent Command inside
      // the tool) is not a failure: let it through. The start stays recorded,
      // so this call is not run again (see the class comment).
      if (isBubbleUp(err)) throw err;
      const error = err instanceof Error ? err.message : String(err);
      result = { content: `Tool '${call.toolName}' failed: ${error}`, success: false, error };
    }
    const durationMs = performance.now() - started;
    this.logger.logEvent({
      runId: call.runId,
      eventType: 'tool_execution_end',
      eventId: endId(call.actionId),
      payload: {
        ...toolExecutionEndPayload(
          {
            actionId: call.actionId,
            success: result.success,
            durationMs,
            executed: true,
            output: result.content,
            ...(result.error ? { error: result.error } : {}),
          },
          // The output is the ledger's replay of this call: a re-run returns it.
          { includeOutput: true },
        ),
        tool_name: call.toolName,
        execution_time_ms: durationMs,
      },
    });
    this.logger.flush();
    return { ...result, replayed: false };
  }
}

/** LangGraph's GraphBubbleUp errors (GraphInterrupt, ParentCommand) carry `is_bubble_up`. */
function isBubbleUp(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { is_bubble_up?: unknown }).is_bubble_up === true
  );
}

function startId(actionId: string): string {
  return `${actionId}:tool_execution_start`;
}

function endId(actionId: string): string {
  return `${actionId}:tool_execution_end`;
}

function interruptedRun(toolName: string): ExecutionResult {
  return {
    content: `Tool '${toolName}' was NOT executed again: an earlier attempt started (tool_execution_start is recorded) and never recorded its end, so it may have run. hitloop does not run an approved call twice; check its effect before proposing it again.`,
    success: false,
    error: 'execution started earlier without a recorded end',
  };
}

/**
 * The text of a tool's result, as a ToolMessage carries it.
 *
 * @example
 * stringifyToolOutput({ id: 3 }) // '{"id":3}'
 */
export function stringifyToolOutput(result: unknown): string {
  if (typeof result === 'string') return result;
  if (result && typeof result === 'object' && 'content' in result) {
    const c = (result as { content: unknown }).content;
    return typeof c === 'string' ? c : JSON.stringify(c);
  }
  return JSON.stringify(result) ?? '';
}
