import { ToolMessage } from '@langchain/core/messages';
import type { StructuredToolInterface } from '@langchain/core/tools';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import { createAction } from '../models/action.js';
import type { TelemetryLogger } from '../telemetry/logger.js';
import { toolExecutionEndPayload, toolExecutionStartPayload } from '../telemetry/payloads.js';
import type { HitlOutcome } from './gate.js';
import { proposedCalls } from './gate-node.js';
import { runIdFor, threadIdOf } from './ids.js';
import type { HitlStateShape, PendingResult } from './state.js';

/** Options of createExecuteToolNode. */
export interface ExecuteToolNodeOptions {
  /** Logs tool_execution_start / _end under deterministic ids. */
  logger?: TelemetryLogger;
  threadId?: string;
}

type ToolLike = Pick<StructuredToolInterface, 'name' | 'invoke'>;

/**
 * A graph node that runs the calls the gate let through, with the reviewer's
 * edited arguments where there are any. A call the gate stopped becomes a
 * ToolMessage with `status: 'error'` saying it was NOT executed and why, so
 * the model adapts. A call without an outcome in `state.hitl` does not run
 * (fail closed): put createHitlGateNode before this node.
 *
 * @example
 * graph.addNode('tools', createExecuteToolNode([sendEmail, readInbox], { logger }));
 */
export function createExecuteToolNode(tools: ToolLike[], options: ExecuteToolNodeOptions = {}) {
  const byName = new Map(tools.map((t) => [t.name, t]));
  return async function executeTools(
    state: HitlStateShape,
    config?: LangGraphRunnableConfig,
  ): Promise<{ messages: ToolMessage[] } | { pendingAction: null; pendingResult: PendingResult }> {
    const calls = proposedCalls(state);
    const fromPending = calls.length > 0 && !hasToolCalls(state);
    const threadId = calls.length > 0 ? threadIdOf(config, options.threadId) : '';
    const messages: ToolMessage[] = [];
    for (const call of calls) {
      const outcome = state.hitl?.[call.id];
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
        ({ content, status } = await runOne(tool, outcome, threadId, options.logger, config));
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

async function runOne(
  tool: ToolLike,
  outcome: HitlOutcome,
  threadId: string,
  logger: TelemetryLogger | undefined,
  config: LangGraphRunnableConfig | undefined,
): Promise<{ content: string; status: 'success' | 'error' }> {
  const runId = runIdFor(threadId);
  const action = createAction({
    id: outcome.actionId,
    toolName: outcome.toolName,
    toolArgs: outcome.args,
  });
  logger?.logEvent({
    runId,
    eventType: 'tool_execution_start',
    eventId: `${outcome.actionId}:tool_execution_start`,
    payload: toolExecutionStartPayload(action, outcome.args),
  });
  const started = performance.now();
  let content: string;
  let status: 'success' | 'error';
  let error: string | undefined;
  try {
    const { toolCall: _omit, ...rest } = (config ?? {}) as LangGraphRunnableConfig & {
      toolCall?: unknown;
    };
    const result: unknown = await tool.invoke(outcome.args, rest);
    content = stringify(result);
    status = 'success';
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    content = `Tool '${outcome.toolName}' failed: ${error}`;
    status = 'error';
  }
  logger?.logEvent({
    runId,
    eventType: 'tool_execution_end',
    eventId: `${outcome.actionId}:tool_execution_end`,
    payload: toolExecutionEndPayload({
      actionId: outcome.actionId,
      success: status === 'success',
      durationMs: performance.now() - started,
      executed: true,
      ...(error ? { error } : {}),
    }),
  });
  return { content, status };
}

function stringify(result: unknown): string {
  if (typeof result === 'string') return result;
  if (result && typeof result === 'object' && 'content' in result) {
    const c = (result as { content: unknown }).content;
    return typeof c === 'string' ? c : JSON.stringify(c);
  }
  return JSON.stringify(result) ?? '';
}
