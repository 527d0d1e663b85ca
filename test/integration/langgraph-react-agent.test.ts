import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { Command, MemorySaver } from '@langchain/langgraph';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { describe, expect, it } from 'vitest';
import { ScriptedBackend } from '../../shared/backends/scripted.js';
import { withApproval } from '../../shared/langgraph/index.js';
import { RiskBasedPolicy } from '../../shared/policies/risk-based.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { emailModel, spyTool } from './langgraph-helpers.js';

const policy = new RiskBasedPolicy({ highRiskTools: ['send_email'] });

describe('createReactAgent with withApproval tools', () => {
  it('pauses inside the ToolNode, then runs the tool once with edited args', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const logger = new TelemetryLogger({ dbPath: ':memory:' });
    const checkpointer = new MemorySaver();
    const build = () =>
      createReactAgent({
        llm: emailModel('rc_1'),
        tools: [withApproval(spyTool(calls), { policy, logger })],
        checkpointer,
      });
    const config = { configurable: { thread_id: 'react-1' } };
    await build().invoke({ messages: [new HumanMessage('email a@b.c')] }, config);
    const state = await build().getState(config);
    const [pending] = state.tasks.flatMap((t) => t.interrupts);
    expect(pending?.value).toMatchObject({ action_request: { action: 'send_email' } });
    expect(calls).toEqual([]);

    const result = await build().invoke(
      new Command({
        resume: { type: 'edit', args: { action: 'send_email', args: { to: 'c@d.e', body: 'x' } } },
      }),
      config,
    );
    expect(calls).toEqual([{ to: 'c@d.e', body: 'x' }]);
    expect(String(result.messages.at(-1)?.content)).toBe('Done: sent to c@d.e');
    logger.flush();
    const events = logger.getRunEvents('langgraph:react-1');
    expect(events.filter((e) => e.eventType === 'action_proposed')).toHaveLength(1);
    expect(events.filter((e) => e.eventType === 'approval_decided')).toHaveLength(1);
    logger.close();
  });

  it('returns an error ToolMessage saying NOT executed when the backend rejects', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const backend = new ScriptedBackend([{ approved: false, reason: 'no emails on Sunday' }]);
    const agent = createReactAgent({
      llm: emailModel('rc_2'),
      tools: [withApproval(spyTool(calls), { policy, mode: 'backend', backend })],
      checkpointer: new MemorySaver(),
    });
    const result = await agent.invoke(
      { messages: [new HumanMessage('email')] },
      { configurable: { thread_id: 'react-2' } },
    );
    expect(calls).toEqual([]);
    const tm = result.messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage | undefined;
    expect(tm?.status).toBe('error');
    expect(String(tm?.content)).toMatch(/NOT executed.*no emails on Sunday/);
    expect(String(result.messages.at(-1)?.content)).toMatch(
      /^Done: Tool 'send_email' was NOT executed/,
    );
  });
});
