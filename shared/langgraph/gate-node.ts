import { AIMessage } from '@langchain/core/messages';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import {
  gateToolCall,
  type HitlGateOptions,
  type HitlOutcome,
  resolveBackend,
  type ToolCallLike,
} from './gate.js';
import { callKeyFor, threadIdOf } from './ids.js';
import type { HitlStateShape } from './state.js';

/** The tool calls the gate must decide: the last AIMessage's, else `pendingAction`. */
export function proposedCalls(state: HitlStateShape): ToolCallLike[] {
  const last = state.messages.at(-1);
  if (last && AIMessage.isInstance(last) && last.tool_calls && last.tool_calls.length > 0) {
    return last.tool_calls.map((c, i) => {
      const id = c.id ?? `${i}`;
      return {
        id,
        key: callKeyFor(state.messages, id),
        name: c.name,
        args: (c.args ?? {}) as Record<string, unknown>,
      };
    });
  }
  const pending = state.pendingAction;
  if (pending)
    return [{ id: pending.id ?? 'pending', name: pending.toolName, args: pending.toolArgs }];
  return [];
}

/**
 * A graph node that gates the proposed tool calls (the last AIMessage's, or
 * `pendingAction`) and writes one HitlOutcome per call to `state.hitl`. In
 * `interrupt` mode it pauses with an Agent Inbox `HumanInterrupt` per call
 * that needs a human, and resumes from `Command({ resume })`; in `backend`
 * mode it awaits the backend (e.g. the hub, so the VS Code sidebar decides).
 * Re-runs on resume log nothing twice and ask no decided call again. When the
 * reviewer edited a call, the AIMessage is written back with the edited
 * arguments (same message id), as `humanInTheLoopMiddleware` does, so the
 * model and later readers see what actually ran.
 *
 * @example
 * graph.addNode('gate', createHitlGateNode({ policy: new RiskBasedPolicy({ highRiskTools: ['send_email'] }), logger }));
 */
export function createHitlGateNode(options: HitlGateOptions) {
  const backend = resolveBackend(options);
  return async function hitlGate(
    state: HitlStateShape,
    config?: LangGraphRunnableConfig,
  ): Promise<{ hitl: Record<string, HitlOutcome>; messages?: AIMessage[] }> {
    const calls = proposedCalls(state);
    if (calls.length === 0) return { hitl: {} };
    const threadId = threadIdOf(config, options.threadId);
    const hitl: Record<string, HitlOutcome> = {};
    // One at a time: each interrupt() is matched to its resume value by order.
    for (const call of calls) {
      hitl[call.id] = await gateToolCall(call, threadId, backend, options);
    }
    const edited = withEditedArgs(state.messages.at(-1), hitl);
    return edited ? { hitl, messages: [edited] } : { hitl };
  };
}

/**
 * The AIMessage with each edited call's arguments replaced by the edit, under
 * the same message id (the messages reducer replaces it in place); undefined
 * when nothing was edited.
 *
 * @example
 * const edited = withEditedArgs(state.messages.at(-1), hitl);
 * return edited ? { hitl, messages: [edited] } : { hitl };
 */
export function withEditedArgs(
  message: unknown,
  outcomes: Record<string, HitlOutcome>,
): AIMessage | undefined {
  if (!message || !AIMessage.isInstance(message) || !message.tool_calls) return undefined;
  let changed = false;
  const toolCalls = message.tool_calls.map((c) => {
    const outcome = c.id ? outcomes[c.id] : undefined;
    if (!outcome?.edited) return c;
    changed = true;
    return { ...c, args: outcome.args };
  });
  if (!changed) return undefined;
  return new AIMessage({
    content: message.content,
    id: message.id,
    name: message.name,
    tool_calls: toolCalls,
    invalid_tool_calls: message.invalid_tool_calls,
    usage_metadata: message.usage_metadata,
    response_metadata: message.response_metadata,
    additional_kwargs: message.additional_kwargs,
  });
}
