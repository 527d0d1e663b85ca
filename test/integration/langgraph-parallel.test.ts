import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import type { StructuredToolInterface } from '@langchain/core/tools';
import { Command, type Interrupt } from '@langchain/langgraph';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { createAgent } from 'langchain';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateArgsWith, withApproval } from '../../shared/langgraph/index.js';
import type { HITLPolicy } from '../../shared/policies/policy.js';
import { RiskBasedPolicy } from '../../shared/policies/risk-based.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { buildGraph, type ScriptedCall, spyTool, turnsModel } from './langgraph-helpers.js';

const policy = new RiskBasedPolicy({ highRiskTools: ['send_email'] });
const TWO_CALLS: ScriptedCall[][] = [
  [
    { id: 'c1', args: { to: 'a@x.y', body: 'one' } },
    { id: 'c2', args: { to: 'b@x.y', body: 'two' } },
  ],
];

/**
 * One "process" of the agent: a new graph, a new SqliteSaver and a new
 * TelemetryLogger on the same files. Opening the next closes this one's
 * logger, as a restart would.
 */
type Proc = {
  // biome-ignore lint/suspicious/noExplicitAny: the two graph kinds share invoke/getState only
  graph: any;
  logger: TelemetryLogger;
};

let dir: string;
let current: TelemetryLogger | undefined;
let outbox: Array<Record<string, unknown>>;

beforeEach(() => {
  dir = makeTempDir('hitloop-lg-par-');
  outbox = [];
});
afterEach(() => {
  current?.close();
  current = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function restart(build: (saver: SqliteSaver, logger: TelemetryLogger) => unknown): Proc {
  current?.close();
  const logger = new TelemetryLogger({ dbPath: join(dir, 'telemetry.db') });
  current = logger;
  const saver = SqliteSaver.fromConnString(join(dir, 'checkpoints.db'));
  return { graph: build(saver, logger), logger };
}

async function pending(proc: Proc, config: object): Promise<Interrupt[]> {
  const state = await proc.graph.getState(config);
  // A task answered earlier (by id) still lists its interrupt, next to its result.
  return state.tasks
    .filter((t: { result?: unknown }) => t.result === undefined)
    .flatMap((t: { interrupts: Interrupt[] }) => t.interrupts);
}

function argsOf(i: Interrupt): Record<string, unknown> {
  return (i.value as { action_request: { args: Record<string, unknown> } }).action_request.args;
}

/** Answers the pending interrupts one at a time, by id, restarting before each answer. */
async function answerEach(
  build: (saver: SqliteSaver, logger: TelemetryLogger) => unknown,
  config: { configurable: { thread_id: string } },
  decide: (args: Record<string, unknown>) => unknown,
) {
  let proc = restart(build);
  await proc.graph.invoke({ messages: [new HumanMessage('send both')] }, config);
  let result: { messages: unknown[] } | undefined;
  for (let step = 0; step < 5; step += 1) {
    const [next] = await pending(proc, config);
    if (!next) break;
    proc = restart(build);
    result = await proc.graph.invoke(
      new Command({ resume: { [next.id as string]: decide(argsOf(next)) } }),
      config,
    );
  }
  return { proc, result };
}

function events(logger: TelemetryLogger, threadId: string) {
  const all = logger.getRunEvents(`langgraph:${threadId}`);
  const count = (type: string) => all.filter((e) => e.eventType === type).length;
  return { all, count };
}

const acceptAEditB = (args: Record<string, unknown>) =>
  args.to === 'a@x.y'
    ? { type: 'accept', args: null }
    : { type: 'edit', args: { action: 'send_email', args: { to: 'b2@x.y', body: 'edited' } } };

/** The agents that run withApproval tools in a ToolNode: one task for all calls (v1), or one per call. */
const AGENTS = {
  'createReactAgent v1': (tools: StructuredToolInterface[], saver: SqliteSaver) =>
    createReactAgent({ llm: turnsModel(TWO_CALLS), tools, checkpointer: saver, version: 'v1' }),
  'createReactAgent v2': (tools: StructuredToolInterface[], saver: SqliteSaver) =>
    createReactAgent({ llm: turnsModel(TWO_CALLS), tools, checkpointer: saver, version: 'v2' }),
  'createAgent (v2 tool calls)': (tools: StructuredToolInterface[], saver: SqliteSaver) => {
    const agent = createAgent({ model: turnsModel(TWO_CALLS), tools, checkpointer: saver });
    return {
      invoke: (input: unknown, config: object) => agent.invoke(input as never, config),
      getState: (config: object) =>
        (agent.graph as unknown as { getState(c: object): Promise<unknown> }).getState(config),
    };
  },
};

describe.each(Object.keys(AGENTS) as Array<keyof typeof AGENTS>)(
  '%s, withApproval, two calls in one AIMessage',
  (name) => {
    const version = name.replace(/\W+/g, '-');
    const build = (saver: SqliteSaver, logger: TelemetryLogger) =>
      AGENTS[name]([withApproval(spyTool(outbox), { policy, logger })], saver);

    it('accept + edit: each approved call runs exactly once across restarts, and is logged', async () => {
      const config = { configurable: { thread_id: `ra-${version}-1` } };
      const { proc, result } = await answerEach(build, config, acceptAEditB);
      expect(outbox).toHaveLength(2);
      expect(outbox).toEqual(
        expect.arrayContaining([
          { to: 'a@x.y', body: 'one' },
          { to: 'b2@x.y', body: 'edited' },
        ]),
      );
      const tms = (result?.messages ?? []).filter((m) =>
        ToolMessage.isInstance(m),
      ) as ToolMessage[];
      expect(tms.map((m) => m.status)).toEqual(['success', 'success']);
      const { count } = events(proc.logger, `ra-${version}-1`);
      expect(count('run_start')).toBe(1);
      expect(count('action_proposed')).toBe(2);
      expect(count('approval_decided')).toBe(2);
      expect(count('tool_execution_start')).toBe(2);
      expect(count('tool_execution_end')).toBe(2);
    });

    it('accept + reject: only the accepted call runs, once', async () => {
      const config = { configurable: { thread_id: `ra-${version}-2` } };
      const { proc, result } = await answerEach(build, config, (args) =>
        args.to === 'a@x.y' ? { type: 'approve' } : { type: 'reject', message: 'not b' },
      );
      expect(outbox).toEqual([{ to: 'a@x.y', body: 'one' }]);
      const tms = (result?.messages ?? []).filter((m) =>
        ToolMessage.isInstance(m),
      ) as ToolMessage[];
      expect(tms.map((m) => m.status).sort()).toEqual(['error', 'success']);
      expect(String(tms.find((m) => m.status === 'error')?.content)).toMatch(/NOT executed.*not b/);
      const { count } = events(proc.logger, `ra-${version}-2`);
      expect(count('tool_execution_start')).toBe(1);
      expect(count('approval_decided')).toBe(2);
    });

    it('an edit that does not fit the tool schema is rejected at the decision, not run', async () => {
      const config = { configurable: { thread_id: `ra-${version}-3` } };
      const { proc } = await answerEach(build, config, (args) =>
        args.to === 'a@x.y'
          ? { type: 'edit', args: { action: 'send_email', args: { to: 42 } } }
          : { type: 'accept' },
      );
      expect(outbox).toEqual([{ to: 'b@x.y', body: 'two' }]);
      const decided = events(proc.logger, `ra-${version}-3`).all.filter(
        (e) => e.eventType === 'approval_decided',
      );
      const refused = decided.find((e) => e.payload.approved === false);
      expect(refused?.payload.reason).toMatch(/edited arguments are invalid: to: /);
    });

    it('a malformed resume value runs nothing and is recorded as a decision', async () => {
      const config = { configurable: { thread_id: `ra-${version}-4` } };
      const { proc } = await answerEach(build, config, () => ({ type: 'yes please' }));
      expect(outbox).toEqual([]);
      const { all, count } = events(proc.logger, `ra-${version}-4`);
      expect(count('approval_requested')).toBe(2);
      expect(count('approval_decided')).toBe(2);
      const decided = all.filter((e) => e.eventType === 'approval_decided');
      expect(decided.map((e) => e.payload.decided_by)).toEqual([
        'langgraph:invalid_resume',
        'langgraph:invalid_resume',
      ]);
    });
  },
);

describe.each(['createReactAgent v2', 'createAgent (v2 tool calls)'] as const)(
  '%s: one plain resume value while two calls wait',
  (name) => {
    it('is refused: neither call runs, and the model is told why', async () => {
      const build = (saver: SqliteSaver, logger: TelemetryLogger) =>
        AGENTS[name]([withApproval(spyTool(outbox), { policy, logger })], saver);
      const config = { configurable: { thread_id: `global-${name}` } };
      let proc = restart(build);
      await proc.graph.invoke({ messages: [new HumanMessage('send both')] }, config);
      expect(await pending(proc, config)).toHaveLength(2);
      proc = restart(build);
      const result = await proc.graph.invoke(new Command({ resume: { type: 'accept' } }), config);
      expect(outbox).toEqual([]);
      const tms = result.messages.filter((m: unknown) =>
        ToolMessage.isInstance(m),
      ) as ToolMessage[];
      expect(tms).toHaveLength(2);
      for (const tm of tms) {
        expect(tm.status).toBe('error');
        expect(String(tm.content)).toMatch(/NOT executed.*2 calls are waiting.*interrupt id/s);
      }
      expect(events(proc.logger, `global-${name}`).count('tool_execution_start')).toBe(0);
    });

    it('is accepted once only one call still waits (the other answered by id)', async () => {
      const build = (saver: SqliteSaver, logger: TelemetryLogger) =>
        AGENTS[name]([withApproval(spyTool(outbox), { policy, logger })], saver);
      const config = { configurable: { thread_id: `last-${name}` } };
      let proc = restart(build);
      await proc.graph.invoke({ messages: [new HumanMessage('send both')] }, config);
      const [first] = await pending(proc, config);
      proc = restart(build);
      await proc.graph.invoke(
        new Command({ resume: { [first?.id as string]: { type: 'accept' } } }),
        config,
      );
      expect(await pending(proc, config)).toHaveLength(1);
      proc = restart(build);
      await proc.graph.invoke(new Command({ resume: { type: 'accept' } }), config);
      expect(outbox).toHaveLength(2);
      expect(events(proc.logger, `last-${name}`).count('tool_execution_end')).toBe(2);
    });
  },
);

describe('createReactAgent v1: answers stay with the call shown', () => {
  it('when the policy answers at different speeds on different runs', async () => {
    // Slow for a@ on its first evaluation, slow for b@ on later ones: without
    // a fixed order, the first run shows b's interrupt and the next run hands
    // its answer to a.
    const seen = new Map<unknown, number>();
    const uneven: HITLPolicy = {
      name: 'uneven',
      async evaluate(action) {
        const n = seen.get(action.toolArgs.to) ?? 0;
        seen.set(action.toolArgs.to, n + 1);
        const slow = action.toolArgs.to === 'a@x.y' ? n === 0 : n > 0;
        if (slow) await new Promise((r) => setTimeout(r, 30));
        return { verdict: 'ask', reason: 'every call' };
      },
    };
    const build = (saver: SqliteSaver, logger: TelemetryLogger) =>
      AGENTS['createReactAgent v1'](
        [withApproval(spyTool(outbox), { policy: uneven, logger })],
        saver,
      );
    const config = { configurable: { thread_id: 'v1-order' } };
    await answerEach(build, config, (args) =>
      args.to === 'a@x.y' ? { type: 'accept' } : { type: 'reject', message: 'not b' },
    );
    expect(outbox).toEqual([{ to: 'a@x.y', body: 'one' }]);
  });
});

describe('createHitlGateNode + createExecuteToolNode, two calls in one AIMessage', () => {
  const tools = [spyTool([])];
  const build = (saver: SqliteSaver, logger: TelemetryLogger) =>
    buildGraph(
      saver,
      { policy, logger, validateArgs: validateArgsWith(tools) },
      outbox,
      turnsModel(TWO_CALLS),
    );

  it('accept + edit: each runs once across restarts; the AIMessage shows the edited call', async () => {
    const config = { configurable: { thread_id: 'gate-1' } };
    const { proc, result } = await answerEach(build, config, acceptAEditB);
    expect(outbox).toEqual([
      { to: 'a@x.y', body: 'one' },
      { to: 'b2@x.y', body: 'edited' },
    ]);
    const ai = (result?.messages ?? []).find(
      (m) => AIMessage.isInstance(m) && (m.tool_calls?.length ?? 0) > 0,
    ) as AIMessage;
    expect(ai.tool_calls?.map((c) => c.args)).toEqual([
      { to: 'a@x.y', body: 'one' },
      { to: 'b2@x.y', body: 'edited' },
    ]);
    const { count } = events(proc.logger, 'gate-1');
    expect(count('run_start')).toBe(1);
    expect(count('approval_decided')).toBe(2);
    expect(count('tool_execution_start')).toBe(2);
    expect(count('tool_execution_end')).toBe(2);
  });

  it('edit + reject: the edit runs once, the rejected call not at all', async () => {
    const config = { configurable: { thread_id: 'gate-2' } };
    await answerEach(build, config, (args) =>
      args.to === 'a@x.y'
        ? { decisions: [{ type: 'reject', message: 'no' }] }
        : { type: 'edit', args: { action: 'send_email', args: { to: 'b3@x.y', body: 'e' } } },
    );
    expect(outbox).toEqual([{ to: 'b3@x.y', body: 'e' }]);
  });

  it('a malformed resume fails the run, is recorded, and the call can still be answered', async () => {
    const config = { configurable: { thread_id: 'gate-3' } };
    let proc = restart(build);
    await proc.graph.invoke({ messages: [new HumanMessage('send both')] }, config);
    proc = restart(build);
    await expect(
      proc.graph.invoke(new Command({ resume: { type: 'yes please' } }), config),
    ).rejects.toThrow(/unrecognised resume value/);
    expect(outbox).toEqual([]);
    const errors = events(proc.logger, 'gate-3').all.filter((e) => e.eventType === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.payload.error_type).toBe('ResumeRefusedError');
    // Still open: answer both properly, each runs once.
    for (let i = 0; i < 2; i += 1) {
      const [next] = await pending(proc, config);
      expect(next).toBeDefined();
      proc = restart(build);
      await proc.graph.invoke(new Command({ resume: { type: 'accept' } }), config);
    }
    expect(outbox).toHaveLength(2);
  });

  it('a model that reuses a tool-call id gets separate events and a separate decision per call', async () => {
    const reuse = (saver: SqliteSaver, logger: TelemetryLogger) =>
      buildGraph(
        saver,
        { policy, logger },
        outbox,
        turnsModel([
          [{ id: 'call_0', args: { to: 'first@x.y', body: '1' } }],
          [{ id: 'call_0', args: { to: 'second@x.y', body: '2' } }],
        ]),
      );
    const config = { configurable: { thread_id: 'gate-reuse' } };
    const { proc } = await answerEach(reuse, config, () => ({ type: 'accept' }));
    expect(outbox).toEqual([
      { to: 'first@x.y', body: '1' },
      { to: 'second@x.y', body: '2' },
    ]);
    const { all, count } = events(proc.logger, 'gate-reuse');
    expect(count('action_proposed')).toBe(2);
    expect(count('approval_decided')).toBe(2);
    expect(count('tool_execution_end')).toBe(2);
    const ids = new Set(
      all.filter((e) => e.eventType === 'action_proposed').map((e) => e.payload.action_id),
    );
    expect(ids.size).toBe(2);
  });
});
