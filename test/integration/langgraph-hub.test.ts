import { rmSync } from 'node:fs';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { MemorySaver } from '@langchain/langgraph';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import { actionIdFor, callKeyFor } from '../../shared/langgraph/index.js';
import { RiskBasedPolicy } from '../../shared/policies/risk-based.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { buildGraph } from './langgraph-helpers.js';

const policy = new RiskBasedPolicy({ highRiskTools: ['send_email'] });

async function waitForPending(client: HubClient) {
  for (let i = 0; i < 200; i++) {
    const pending = await client.listPending();
    if (pending.length > 0) return pending;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no pending approval appeared on the hub');
}

describe('backend mode through the approval hub', () => {
  let home: string;
  let hub: ApprovalHub;
  let client: HubClient;
  let logger: TelemetryLogger;
  beforeEach(async () => {
    home = makeTempDir('hitloop-lg-hub-');
    hub = new ApprovalHub({ store: new MemoryApprovalStore(), home, announce: false });
    await hub.start();
    client = new HubClient({ url: hub.url, token: hub.token });
    logger = new TelemetryLogger({ dbPath: ':memory:' });
  });
  afterEach(async () => {
    logger.close();
    await hub.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('publishes the call, runs it with the args edited over the hub API, once', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const graph = buildGraph(new MemorySaver(), { policy, logger, mode: 'backend', hub }, calls);
    const config = { configurable: { thread_id: 'hub-1' } };
    const running = graph.invoke({ messages: [new HumanMessage('email')] }, config);
    const [record] = await waitForPending(client);
    // The id names this call: thread, proposing AIMessage (saved before the gate ran) and call id.
    const { messages } = (await graph.getState(config)).values;
    expect(record?.id).toBe(actionIdFor('hub-1', callKeyFor(messages, 'call_1')));
    expect(record?.tool).toBe('send_email');
    expect(calls).toEqual([]);
    await client.decide(record?.id ?? '', {
      approve: true,
      argsHash: record?.argsHash ?? '',
      editedArgs: { to: 'boss@b.c', body: 'hi' },
      decidedBy: 'test:alice',
    });
    const result = await running;
    expect(calls).toEqual([{ to: 'boss@b.c', body: 'hi' }]);
    expect(result.messages.at(-1)?.content).toMatch(/Done: sent to boss@b.c/);
    logger.flush();
    const events = logger.getRunEvents('langgraph:hub-1');
    expect(events.filter((e) => e.eventType === 'approval_decided')).toHaveLength(1);
    expect(events.find((e) => e.eventType === 'approval_decided')?.payload).toMatchObject({
      decided_by: 'test:alice',
    });
  });

  it('reports a hub rejection to the model and does not ask again when the node re-runs', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const saver = new MemorySaver();
    const config = { configurable: { thread_id: 'hub-2' } };
    const running = buildGraph(saver, { policy, mode: 'backend', hub }, calls).invoke(
      { messages: [new HumanMessage('email')] },
      config,
    );
    const [record] = await waitForPending(client);
    await client.decide(record?.id ?? '', {
      approve: false,
      argsHash: record?.argsHash ?? '',
      reason: 'not today',
      decidedBy: 'test:bob',
    });
    const result = await running;
    expect(calls).toEqual([]);
    const tm = result.messages.find((m) => ToolMessage.isInstance(m)) as ToolMessage | undefined;
    expect(tm?.status).toBe('error');
    expect(String(tm?.content)).toMatch(/NOT executed: rejected by test:bob\. Reason: not today/);

    // Re-running the gate for the same tool call (e.g. a replay after a
    // restart) answers from the hub's record: no second card appears.
    const again = buildGraph(saver, { policy, mode: 'backend', hub }, calls);
    const history = [];
    for await (const s of again.getStateHistory(config)) history.push(s);
    const beforeGate = history.find((s) => s.next.includes('gate'));
    expect(beforeGate).toBeDefined();
    const replay = await again.invoke(null, beforeGate?.config ?? config);
    const replayed = replay.messages.filter((m) => ToolMessage.isInstance(m)).at(-1);
    expect(String(replayed?.content)).toMatch(/rejected by test:bob/);
    expect(await client.listPending()).toEqual([]);
    expect((await client.history()).filter((r) => r.id === record?.id)).toHaveLength(1);
    expect(calls).toEqual([]);
  });
});
