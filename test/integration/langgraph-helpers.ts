import { AIMessage, type BaseMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { type BaseCheckpointSaver, END, START, StateGraph } from '@langchain/langgraph';
import { z } from 'zod';
import type { HitlGateOptions } from '../../shared/langgraph/gate.js';
import {
  createExecuteToolNode,
  createHitlGateNode,
  HitlAnnotation,
  ScriptedChatModel,
} from '../../shared/langgraph/index.js';

/** A send_email tool that records every real execution. */
export function spyTool(calls: Array<Record<string, unknown>>) {
  return tool(
    async (args: { to: string; body: string }) => {
      calls.push(args);
      return `sent to ${args.to}`;
    },
    {
      name: 'send_email',
      description: 'Send an email',
      schema: z.object({ to: z.string(), body: z.string() }),
    },
  );
}

/** Proposes send_email once, then answers with the tool result it saw. */
export function emailModel(toolCallId = 'call_1'): ScriptedChatModel {
  const reply = (messages: BaseMessage[]) => {
    const last = messages.at(-1);
    if (last && ToolMessage.isInstance(last)) return `Done: ${String(last.content)}`;
    return new AIMessage({
      content: '',
      tool_calls: [
        {
          id: toolCallId,
          name: 'send_email',
          args: { to: 'a@b.c', body: 'hi' },
          type: 'tool_call',
        },
      ],
    });
  };
  return new ScriptedChatModel({ replies: [reply, reply, reply, reply] });
}

/** A tool call as a scripted model proposes it. */
export type ScriptedCall = { id: string; name?: string; args: Record<string, unknown> };

/**
 * A model that proposes `turns[n]` (all in one AIMessage) on its n-th turn,
 * counted from the AIMessages in the conversation, then says what the last
 * tool said. Stateless, so a new instance after a "restart" continues the script.
 */
export function turnsModel(turns: ScriptedCall[][]): ScriptedChatModel {
  const reply = (messages: BaseMessage[]) => {
    const turn = messages.filter((m) => AIMessage.isInstance(m)).length;
    const calls = turns[turn];
    if (!calls) return `Done: ${String(messages.at(-1)?.content)}`;
    return new AIMessage({
      content: '',
      tool_calls: calls.map((c) => ({
        id: c.id,
        name: c.name ?? 'send_email',
        args: c.args,
        type: 'tool_call' as const,
      })),
    });
  };
  return new ScriptedChatModel({ replies: Array(turns.length + 2).fill(reply) });
}

/** agent -> gate -> tools -> agent, a real StateGraph. */
export function buildGraph(
  checkpointer: BaseCheckpointSaver,
  options: HitlGateOptions,
  calls: Array<Record<string, unknown>>,
  model: ScriptedChatModel = emailModel(),
) {
  const sendEmail = spyTool(calls);
  return new StateGraph(HitlAnnotation)
    .addNode('agent', async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode('gate', createHitlGateNode(options))
    .addNode('tools', createExecuteToolNode([sendEmail], { logger: options.logger }))
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', (state) => {
      const last = state.messages.at(-1);
      return last && AIMessage.isInstance(last) && (last.tool_calls?.length ?? 0) > 0
        ? 'gate'
        : END;
    })
    .addEdge('gate', 'tools')
    .addEdge('tools', 'agent')
    .compile({ checkpointer });
}
