import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { GraphInterrupt } from '@langchain/langgraph';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  callKeyFor,
  ExecutionLedger,
  toolArgsProblems,
  withApproval,
} from '../../shared/langgraph/index.js';
import { AlwaysApprovePolicy } from '../../shared/policies/always-approve.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const call = {
  runId: 'langgraph:t1',
  actionId: 'lg-a1',
  toolName: 'send_email',
  args: { to: 'a' },
};

describe('ExecutionLedger', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('hitloop-ledger-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const open = () => new TelemetryLogger({ dbPath: join(dir, 't.db') });

  it('runs a call once and replays its recorded result in a later process', async () => {
    let runs = 0;
    const first = open();
    const a = await new ExecutionLedger(first).runOnce(call, async () => {
      runs += 1;
      return { content: 'sent', success: true };
    });
    first.close();
    const second = open();
    const b = await new ExecutionLedger(second).runOnce(call, async () => {
      runs += 1;
      return { content: 'sent again', success: true };
    });
    expect(runs).toBe(1);
    expect(a).toEqual({ content: 'sent', success: true, replayed: false });
    expect(b).toEqual({ content: 'sent', success: true, replayed: true });
    const end = second.getRunEvents(call.runId).find((e) => e.eventType === 'tool_execution_end');
    expect(end?.payload).toMatchObject({ action_id: 'lg-a1', success: true, executed: true });
    expect(typeof end?.payload.execution_time_ms).toBe('number');
    second.close();
  });

  it('does not run a call whose start is recorded without an end (the process died mid-run)', async () => {
    const logger = open();
    logger.logEvent({
      runId: call.runId,
      eventType: 'tool_execution_start',
      eventId: `${call.actionId}:tool_execution_start`,
      payload: { action_id: call.actionId },
    });
    let runs = 0;
    const r = await new ExecutionLedger(logger).runOnce(call, async () => {
      runs += 1;
      return { content: 'sent', success: true };
    });
    expect(runs).toBe(0);
    expect(r.success).toBe(false);
    expect(r.content).toMatch(/NOT executed again.*may have run/);
    logger.close();
  });

  it('records a failing tool as run (it may have had effects) and does not retry it', async () => {
    const logger = open();
    const ledger = new ExecutionLedger(logger);
    let runs = 0;
    const fail = async () => {
      runs += 1;
      throw new Error('smtp down');
    };
    const a = await ledger.runOnce(call, fail);
    const b = await ledger.runOnce(call, fail);
    expect(runs).toBe(1);
    expect(a).toMatchObject({ success: false, content: "Tool 'send_email' failed: smtp down" });
    expect(b).toMatchObject({ success: false, replayed: true, error: 'smtp down' });
    logger.close();
  });

  it("lets LangGraph's control flow through instead of recording it as a failure", async () => {
    const logger = open();
    const pause = new GraphInterrupt([{ id: 'i1', value: 'question' }]);
    await expect(
      new ExecutionLedger(logger).runOnce(call, async () => {
        throw pause;
      }),
    ).rejects.toBe(pause);
    const types = logger.getRunEvents(call.runId).map((e) => e.eventType);
    expect(types).toEqual(['tool_execution_start']);
    logger.close();
  });

  it('refuses to run when the start cannot be recorded (no record, no run)', async () => {
    let runs = 0;
    // A store that drops every write (a failing disk with `required` off).
    const ledger = new ExecutionLedger({
      getRunEvents: () => [],
      logEvent: () => 'ignored',
      flush: () => {},
    } as unknown as TelemetryLogger);
    const r = await ledger.runOnce(call, async () => {
      runs += 1;
      return { content: 'sent', success: true };
    });
    expect(runs).toBe(0);
    expect(r.content).toMatch(/NOT executed: hitloop could not record the execution/);
  });
});

describe('callKeyFor', () => {
  it('qualifies a tool-call id with the AIMessage that proposed it, latest first', () => {
    const turn1 = new AIMessage({
      id: 'm1',
      content: '',
      tool_calls: [{ id: 'call_0', name: 't', args: {} }],
    });
    const turn2 = new AIMessage({
      id: 'm2',
      content: '',
      tool_calls: [{ id: 'call_0', name: 't', args: {} }],
    });
    const tm = new ToolMessage({ content: 'ok', tool_call_id: 'call_0' });
    expect(callKeyFor([new HumanMessage('x'), turn1, tm], 'call_0')).toBe('m1/call_0');
    expect(callKeyFor([new HumanMessage('x'), turn1, tm, turn2], 'call_0')).toBe('m2/call_0');
    expect(callKeyFor([], 'call_0')).toBe('call_0');
    expect(callKeyFor(undefined, 'call_0')).toBe('call_0');
  });
});

describe('toolArgsProblems', () => {
  const sendEmail = tool(async () => 'ok', {
    name: 'send_email',
    description: 'x',
    schema: z.object({ to: z.string(), body: z.string() }),
  });
  it('names each field that does not fit the zod schema', () => {
    expect(toolArgsProblems(sendEmail, { to: 'a', body: 'b' })).toEqual([]);
    const problems = toolArgsProblems(sendEmail, { to: 42 });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^to: /);
    expect(problems[1]).toMatch(/^body: /);
  });
  it('does not check a JSON Schema tool', () => {
    expect(
      toolArgsProblems({ name: 'x', schema: { type: 'object' } as never }, { anything: 1 }),
    ).toEqual([]);
  });
});

describe('withApproval without a logger', () => {
  it('warns once that its record of executed calls does not survive a restart', async () => {
    const warnings: Error[] = [];
    const listen = (w: Error) => warnings.push(w);
    process.on('warning', listen);
    try {
      const send = tool(async () => 'sent', {
        name: 'send_email',
        description: 'Sends an email',
        schema: z.object({ to: z.string() }),
      });
      const dir = makeTempDir('hitloop-ledger-');
      const logger = new TelemetryLogger({ dbPath: join(dir, 't.db') });
      withApproval(send, { policy: new AlwaysApprovePolicy(), logger });
      withApproval(send, { policy: new AlwaysApprovePolicy() });
      withApproval(send, { policy: new AlwaysApprovePolicy() });
      logger.close();
      rmSync(dir, { recursive: true, force: true });
      // Node emits warnings on a later tick.
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', listen);
    }
    const ours = warnings.filter(
      (w) => (w as Error & { code?: string }).code === 'HITLOOP_IN_MEMORY_RECORD',
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]?.message).toContain('Pass a TelemetryLogger with a file');
  });
});
