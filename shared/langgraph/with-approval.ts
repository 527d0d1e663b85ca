import { ToolMessage } from '@langchain/core/messages';
import { DynamicStructuredTool, type StructuredToolInterface } from '@langchain/core/tools';
import type { LangGraphRunnableConfig } from '@langchain/langgraph';
import { TelemetryLogger } from '../telemetry/logger.js';
import { argsHash } from '../util/canonical-json.js';
import { ExecutionLedger, stringifyToolOutput } from './execution-ledger.js';
import { gateToolCall, type HitlGateOptions, resolveBackend } from './gate.js';
import { callKeyFor, runIdFor, threadIdOf } from './ids.js';
import { inTaskOrder } from './task-order.js';
import { toolArgsProblems } from './tool-schema.js';

/**
 * Wraps a LangChain tool so every call goes through hitloop first: the policy,
 * then (when it asks) a human by `interrupt()` or a backend. A stopped call
 * returns a ToolMessage with `status: 'error'` saying it was NOT executed and
 * why; an approved one runs with the (possibly edited) arguments. Works in a
 * `ToolNode` and `createReactAgent` (v1 and v2), which give the tool its call id.
 *
 * Exactly once: a ToolNode re-runs all its calls on every resume, so each
 * approved call is recorded in the `logger`'s store (`tool_execution_start` /
 * `_end`) and a re-run returns the recorded result instead of running it
 * again. Pass a file-backed `logger` for that to hold across restarts;
 * without one, the record is kept in memory for this process only.
 *
 * An edit must fit the tool's (zod) schema, or the call is rejected at the
 * decision. A resume value hitloop refuses (malformed, not allowed, or one
 * plain value while several calls wait) is recorded as a rejection by
 * `langgraph:invalid_resume` and the call does not run: the ToolNode would
 * turn a thrown error into a ToolMessage anyway.
 *
 * @example
 * const agent = createReactAgent({ llm, tools: [withApproval(sendEmail, { policy, logger })], checkpointer });
 */
export function withApproval(
  tool: StructuredToolInterface,
  options: HitlGateOptions,
): DynamicStructuredTool {
  const backend = resolveBackend(options, 'reject');
  const interruptMode = (options.mode ?? 'interrupt') === 'interrupt';
  if (!options.logger) warnInMemoryRecord();
  const ledger = new ExecutionLedger(options.logger ?? new TelemetryLogger({ dbPath: ':memory:' }));
  const validateArgs = (toolName: string, args: Record<string, unknown>) => [
    ...toolArgsProblems(tool, args),
    ...(options.validateArgs?.(toolName, args) ?? []),
  ];
  return new DynamicStructuredTool({
    name: tool.name,
    description: tool.description,
    // biome-ignore lint/suspicious/noExplicitAny: the wrapped tool's schema passes through unchanged
    schema: tool.schema as any,
    func: async (input: unknown, _runManager, config?: LangGraphRunnableConfig) => {
      const args = (input ?? {}) as Record<string, unknown>;
      const runtime = config as
        | { toolCall?: { id?: string }; state?: { messages?: unknown[] } }
        | undefined;
      const toolCallId = runtime?.toolCall?.id;
      const callId = toolCallId ?? `direct-${argsHash(args).slice(0, 16)}`;
      const threadId = threadIdOf(config, options.threadId);
      const gate = () =>
        gateToolCall(
          {
            id: callId,
            key: toolCallId ? callKeyFor(runtime?.state?.messages, toolCallId) : callId,
            name: tool.name,
            args,
          },
          threadId,
          backend,
          { ...options, validateArgs },
        );
      // Interrupts are matched to answers by order within a task: keep that
      // order the same on every run. (A backend is asked by id, in parallel.)
      const outcome = await (interruptMode ? inTaskOrder(config, gate) : gate());
      let content: string;
      let status: 'success' | 'error' = 'error';
      if (!outcome.execute) {
        content = outcome.message ?? `Tool '${tool.name}' was NOT executed.`;
      } else {
        const { toolCall: _omit, ...rest } = (config ?? {}) as LangGraphRunnableConfig & {
          toolCall?: unknown;
        };
        const result = await ledger.runOnce(
          {
            runId: runIdFor(threadId),
            actionId: outcome.actionId,
            toolName: tool.name,
            args: outcome.args,
          },
          async () => ({
            content: stringifyToolOutput(await tool.invoke(outcome.args, rest)),
            success: true,
          }),
        );
        content = result.content;
        status = result.success ? 'success' : 'error';
      }
      if (!toolCallId) return content;
      return new ToolMessage({ content, tool_call_id: toolCallId, name: tool.name, status });
    },
  });
}

let warnedInMemory = false;

// Said once per process, as a Node warning (which users can filter): the
// exactly-once record dies with the process, and a ToolNode resumed in a new
// process re-runs every call of its step, including an approved one that ran.
function warnInMemoryRecord(): void {
  if (warnedInMemory) return;
  warnedInMemory = true;
  process.emitWarning(
    'withApproval without a logger keeps its record of executed calls in memory: after a restart, resuming a step with several calls may run an approved call again. Pass a TelemetryLogger with a file (e.g. new TelemetryLogger({ dbPath: "hitloop.db" })) to make it exactly once across restarts.',
    { code: 'HITLOOP_IN_MEMORY_RECORD' },
  );
}
