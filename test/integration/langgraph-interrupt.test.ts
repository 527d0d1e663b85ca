import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import {
  type BaseCheckpointSaver,
  Command,
  END,
  MemorySaver,
  START,
  StateGraph,
} from '@langchain/langgraph';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createExecuteToolNode,
  createHitlGateNode,
  HitlAnnotation,
} from '../../shared/langgraph/index.js';
import { RiskBasedPolicy } from '../../shared/policies/risk-based.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { buildGraph, spyTool } from './langgraph-helpers.js';

type Saver = { name: string; open: (dir: string) => BaseCheckpointSaver };
const savers: Saver[] = [
  {
    name: 'MemorySaver',
    open: (() => {
      // One MemorySaver shared by both graphs: it is the "durable" store in this test.
      let shared: MemorySaver | undefined;
      return () => {
        shared ??= new MemorySaver();
        return shared;
      };
    })(),
  },
  {
    name: 'SqliteSaver (same file, as after a restart)',
    open: (dir) => SqliteSaver.fromConnString(join(dir, 'checkpoints.db')),
  },
];

const policy = new RiskBasedPolicy({ highRiskTools: ['send_email'] });

describe.each(savers)('interrupt mode with $name', (saver) => {
  let dir: string;
  let logger: TelemetryLogger;
  beforeEach(() => {
    dir = makeTempDir('hitloop-lg-');
    logger = new TelemetryLogger({ dbPath: join(dir, 'telemetry.db') });
  });
  afterEach(() => {
    logger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runToInterrupt(threadId: string) {
    const calls: Array<Record<string, unknown>> = [];
    const graph = buildGraph(saver.open(dir), { policy, logger }, calls);
    const config = { configurable: { thread_id: threadId } };
    await graph.invoke({ messages: [new HumanMessage('email a@b.c')] }, config);
    const state = await graph.getState(config);
    const interrupts = state.tasks.flatMap((t) => t.interrupts);
    expect(interrupts).toHaveLength(1);
    expect(calls).toEqual([]);
    return { config, payload: interrupts[0]?.value };
  }

  async function resume(threadId: string, value: unknown) {
    const calls: Array<Record<string, unknown>> = [];
    // A new graph object on the same checkpointer, as after a restart.
    const graph = buildGraph(saver.open(dir), { policy, logger }, calls);
    const config = { configurable: { thread_id: threadId } };
    const result = await graph.invoke(new Command({ resume: value }), config);
    logger.flush();
    const events = logger.getRunEvents(`langgraph:${threadId}`);
    const count = (type: string) => events.filter((e) => e.eventType === type).length;
    const toolMessages = result.messages.filter((m) => ToolMessage.isInstance(m)) as ToolMessage[];
    return { calls, result, count, toolMessages };
  }

  it('pauses with an Agent Inbox HumanInterrupt and runs once on accept', async () => {
    const { payload } = await runToInterrupt('t-accept');
    expect(payload).toMatchObject({
      action_request: { action: 'send_email', args: { to: 'a@b.c', body: 'hi' } },
      config: { allow_accept: true, allow_edit: true, allow_respond: true, allow_ignore: true },
    });
    expect(typeof (payload as { description: unknown }).description).toBe('string');
    const r = await resume('t-accept', { type: 'accept', args: null });
    expect(r.calls).toEqual([{ to: 'a@b.c', body: 'hi' }]);
    expect(r.toolMessages.map((m) => m.status)).toEqual(['success']);
    expect(r.count('action_proposed')).toBe(1);
    expect(r.count('approval_requested')).toBe(1);
    expect(r.count('approval_decided')).toBe(1);
    expect(r.count('tool_execution_start')).toBe(1);
    expect(r.count('tool_execution_end')).toBe(1);
    expect(logger.getRun('langgraph:t-accept')?.condition).toBe('risk_based');
  });

  it('runs once with the edited arguments (Agent Inbox edit)', async () => {
    await runToInterrupt('t-edit');
    const r = await resume('t-edit', {
      type: 'edit',
      args: { action: 'send_email', args: { to: 'boss@b.c', body: 'edited' } },
    });
    expect(r.calls).toEqual([{ to: 'boss@b.c', body: 'edited' }]);
    expect(r.count('approval_decided')).toBe(1);
    expect(r.count('tool_execution_start')).toBe(1);
  });

  it('runs once with the edited arguments (humanInTheLoopMiddleware edit, in decisions[])', async () => {
    await runToInterrupt('t-edit-mw');
    const r = await resume('t-edit-mw', {
      decisions: [
        { type: 'edit', editedAction: { name: 'send_email', args: { to: 'x@y.z', body: 'mw' } } },
      ],
    });
    expect(r.calls).toEqual([{ to: 'x@y.z', body: 'mw' }]);
  });

  it('does not run on reject and tells the model why', async () => {
    await runToInterrupt('t-reject');
    const r = await resume('t-reject', { type: 'reject', message: 'wrong recipient' });
    expect(r.calls).toEqual([]);
    expect(r.toolMessages).toHaveLength(1);
    const msg = r.toolMessages[0];
    expect(msg?.status).toBe('error');
    expect(String(msg?.content)).toMatch(/NOT executed/);
    expect(String(msg?.content)).toMatch(/wrong recipient/);
    expect(r.count('action_proposed')).toBe(1);
    expect(r.count('approval_decided')).toBe(1);
    expect(r.count('tool_execution_start')).toBe(0);
  });

  it('treats an Agent Inbox response as not executed, carrying the text', async () => {
    await runToInterrupt('t-respond');
    const r = await resume('t-respond', [{ type: 'response', args: 'send it tomorrow instead' }]);
    expect(r.calls).toEqual([]);
    expect(String(r.toolMessages[0]?.content)).toMatch(/NOT executed.*send it tomorrow instead/);
  });
});

describe('interrupt mode: bad resume values', () => {
  it('fails with a clear error and does not run the tool', async () => {
    const saver = new MemorySaver();
    const calls: Array<Record<string, unknown>> = [];
    const config = { configurable: { thread_id: 't-bad' } };
    const graph = buildGraph(saver, { policy }, calls);
    await graph.invoke({ messages: [new HumanMessage('go')] }, config);
    await expect(
      graph.invoke(new Command({ resume: { type: 'yes please' } }), config),
    ).rejects.toThrow(/unrecognised resume value/);
    expect(calls).toEqual([]);
  });

  it('refuses an edit that renames the tool', async () => {
    const saver = new MemorySaver();
    const calls: Array<Record<string, unknown>> = [];
    const config = { configurable: { thread_id: 't-rename' } };
    const graph = buildGraph(saver, { policy }, calls);
    await graph.invoke({ messages: [new HumanMessage('go')] }, config);
    const result = await graph.invoke(
      new Command({ resume: { type: 'edit', args: { action: 'delete_all', args: {} } } }),
      config,
    );
    expect(calls).toEqual([]);
    const tm = result.messages.find((m) => ToolMessage.isInstance(m));
    expect(String(tm?.content)).toMatch(/NOT executed.*arguments only/);
  });

  it('lets a call the policy allows through without an interrupt', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const graph = buildGraph(new MemorySaver(), { policy: new RiskBasedPolicy({}) }, calls);
    const config = { configurable: { thread_id: 't-allow' } };
    await graph.invoke({ messages: [new HumanMessage('go')] }, config);
    expect((await graph.getState(config)).tasks).toHaveLength(0);
    expect(calls).toEqual([{ to: 'a@b.c', body: 'hi' }]);
  });
});

describe('a pendingAction instead of a tool call', () => {
  it('is gated and its result lands in pendingResult', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const saver = new MemorySaver();
    const build = () =>
      new StateGraph(HitlAnnotation)
        .addNode('gate', createHitlGateNode({ policy }))
        .addNode('tools', createExecuteToolNode([spyTool(calls)]))
        .addEdge(START, 'gate')
        .addEdge('gate', 'tools')
        .addEdge('tools', END)
        .compile({ checkpointer: saver });
    const config = { configurable: { thread_id: 't-pending' } };
    await build().invoke(
      {
        messages: [],
        pendingAction: { id: 'p1', toolName: 'send_email', toolArgs: { to: 'q@r.s', body: 'b' } },
      },
      config,
    );
    expect(calls).toEqual([]);
    const out = await build().invoke(new Command({ resume: { type: 'approve' } }), config);
    expect(calls).toEqual([{ to: 'q@r.s', body: 'b' }]);
    expect(out.pendingAction).toBeNull();
    expect(out.pendingResult).toMatchObject({ id: 'p1', executed: true, content: 'sent to q@r.s' });
  });
});
