import { ToolMessage } from '@langchain/core/messages';
import type { StructuredToolInterface } from '@langchain/core/tools';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import type { TelemetryLogger } from '../telemetry/logger.js';
import {
  ExecutionLedger,
  type ExecutionResult,
  type LedgerCall,
  stringifyToolOutput,
} from './execution-ledger.js';
import { proposedCalls } from './gate-node.js';
import { actionIdFor, runIdFor, threadIdOf } from './ids.js';
import type { HitlStateShape, PendingResult } from './state.js';

/** Options of createExecuteToolNode. */
export interface ExecuteToolNodeOptions {
  /**
   * Logs tool_execution_start / _end under deterministic ids, and is the
   * record that keeps a re-run of this node (after a crash) from running an
   * approved call twice.
   */
  logger?: TelemetryLogger;
  threadId?: string;
}

type ToolLike = Pick<StructuredToolInterface, 'name' | 'invoke'>;

/**
 * A graph node that runs the calls the gate let through, with the reviewer's
 * edited arguments where there are any. A call the gate stopped becomes a
 * ToolMessage with `status: 'error'` saying it was NOT executed and why, so
 * the model adapts. A call without an outcome in `state.hitl`, or with one
 * decided for another call under the same id (a model reusing ids), does not
 * run (fail closed): put createHitlGateNode before this node. With a logger,
 * each call runs at most once, even if the node runs again.
 *
 * @example
 * graph.addNode('tools', createExecuteToolNode([sendEmail, readInbox], { logger }));
 */
export function createExecuteToolNode(tools: ToolLike[], options: ExecuteToolNodeOptions = {}) {
  const byName = new Map(tools.map((t) => [t.name, t]));
  const ledger = options.logger ? new ExecutionLedger(options.logger) : undefined;
  return async function executeTools(
    state: HitlStateShape,
    config?: LangGraphRunnableConfig,
  ): Promise<{ messages: ToolMessage[] } | { pendingAction: null; pendingResult: PendingResult }> {
    const calls = proposedCalls(state);
    const fromPending = calls.length > 0 && !hasToolCalls(state);
    const threadId = calls.length > 0 ? threadIdOf(config, options.threadId) : '';
    const messages: ToolMessage[] = [];
    for (const call of calls) {
      const recorded = state.hitl?.[call.id];
      // An outcome under this id that was decided for another call (the same
      // id on an earlier turn) is not this call's decision.
      const outcome =
        recorded && recorded.actionId === actionIdFor(threadId, call.key ?? call.id)
          ? recorded
          : undefined;
      const tool = byName.get(call.name);
      let content: string;
      let status: 'success' | 'error' = 'error';
      if (!outcome) {
        content = `Tool '${call.name}' was NOT executed: no approval outcome was recorded for this call (the hitloop gate did not run before the tool node).`;
      } else if (!outcome.execute) {
        content = outcome.message ?? `Tool '${call.name}' was NOT executed.`;
      } else if (!tool) {
        content = `Tool '${call.name}' was NOT executed: no such tool.`;
      } else {
        const run = async (): Promise<ExecutionResult> => {
          const { toolCall: _omit, ...rest } = (config ?? {}) as LangGraphRunnableConfig & {
            toolCall?: unknown;
          };
          return {
            content: stringifyToolOutput(await tool.invoke(outcome.args, rest)),
            success: true,
          };
        };
        const toRun: LedgerCall = {
          runId: runIdFor(threadId),
          actionId: outcome.actionId,
          toolName: outcome.toolName,
          args: outcome.args,
        };
        const result = ledger ? await ledger.runOnce(toRun, run) : await runUnrecorded(toRun, run);
        content = result.content;
        status = result.success ? 'success' : 'error';
      }
      messages.push(new ToolMessage({ content, tool_call_id: call.id, name: call.name, status }));
    }
    if (fromPending) {
      const [call] = calls;
      const [message] = messages;
      if (!call || !message) throw new Error('unreachable');
      return {
        pendingAction: null,
        pendingResult: {
          id: call.id,
          toolName: call.name,
          executed: message.status === 'success',
          content: String(message.content),
        },
      };
    }
    return { messages };
  };
}

function hasToolCalls(state: HitlStateShape): boolean {
  const last = state.messages.at(-1);
  return (
    !!last && 'tool_calls' in last && Array.isArray(last.tool_calls) && last.tool_calls.length > 0
  );
}

/** Without a logger there is no record to consult: run, and turn a throw into an error result. */
async function runUnrecorded(
  call: LedgerCall,
  run: () => Promise<ExecutionResult>,
): Promise<ExecutionResult> {
  try {
    return await run();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return { content: `Tool '${call.toolName}' failed: ${error}`, success: false, error };
  }
}
