import { ToolMessage } from '@langchain/core/messages';
import { DynamicStructuredTool, type StructuredToolInterface } from '@langchain/core/tools';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import { argsHash } from '../util/canonical-json.js';
import { gateToolCall, type HitlGateOptions, resolveBackend } from './gate.js';
import { threadIdOf } from './ids.js';

/**
 * Wraps a LangChain tool so every call goes through hitloop first: the policy,
 * then (when it asks) a human by `interrupt()` or a backend. A stopped call
 * returns a ToolMessage with `status: 'error'` saying it was NOT executed and
 * why; an approved one runs with the (possibly edited) arguments. Works in a
 * `ToolNode` and `createReactAgent`, which give the tool its call id.
 *
 * @example
 * const agent = createReactAgent({ llm, tools: [withApproval(sendEmail, { policy })], checkpointer });
 */
export function withApproval(
  tool: StructuredToolInterface,
  options: HitlGateOptions,
): DynamicStructuredTool {
  const backend = resolveBackend(options);
  return new DynamicStructuredTool({
    name: tool.name,
    description: tool.description,
    // biome-ignore lint/suspicious/noExplicitAny: the wrapped tool's schema passes through unchanged
    schema: tool.schema as any,
    func: async (input: unknown, _runManager, config?: LangGraphRunnableConfig) => {
      const args = (input ?? {}) as Record<string, unknown>;
      const toolCall = (config as { toolCall?: { id?: string } } | undefined)?.toolCall;
      const callId = toolCall?.id ?? `direct-${argsHash(args).slice(0, 16)}`;
      const threadId = threadIdOf(config, options.threadId);
      const outcome = await gateToolCall(
        { id: callId, name: tool.name, args },
        threadId,
        backend,
        options,
      );
      if (!outcome.execute) {
        const content = outcome.message ?? `Tool '${tool.name}' was NOT executed.`;
        if (!toolCall?.id) return content;
        return new ToolMessage({
          content,
          tool_call_id: toolCall.id,
          name: tool.name,
          status: 'error',
        });
      }
      const { toolCall: _omit, ...rest } = (config ?? {}) as LangGraphRunnableConfig & {
        toolCall?: unknown;
      };
      const result: unknown = await tool.invoke(outcome.args, rest);
      return result as string;
    },
  });
}
