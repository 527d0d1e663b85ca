import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAction } from '../../shared/models/action.js';
import { ApprovalRequest } from '../../shared/models/approval-request.js';
import { Decision } from '../../shared/models/decision.js';
import { ToolResult } from '../../shared/models/tool-result.js';
import type { EventType } from '../../shared/models/trace-event.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { actionVerdictPayload } from '../../shared/telemetry/payloads.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let file: string;
const open: TelemetryLogger[] = [];

beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-logger-');
  file = join(dir, 'telemetry.db');
});
afterEach(() => {
  for (const logger of open.splice(0)) logger.close();
  rmSync(dir, { recursive: true, force: true });
});

function logger(options: Partial<ConstructorParameters<typeof TelemetryLogger>[0]> = {}) {
  const created = new TelemetryLogger({ dbPath: file, ...options });
  open.push(created);
  return created;
}

/** A second connection, as another process would see the file. */
function countEvents(): number {
  const db = openSqlite(file, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM trace_events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('TelemetryLogger', () => {
  it('loses nothing on close without an explicit flush', () => {
    const log = new TelemetryLogger({ dbPath: file, flushIntervalMs: 60_000 });
    const ids = new Set<string>();
    for (let i = 0; i < 1234; i++) {
      ids.add(log.logEvent({ runId: `run-${i % 7}`, eventType: 'llm_call', payload: { i } }));
    }
    expect(log.stats.written).toBe(1000);
    log.close();

    const db = openSqlite(file, { readonly: true });
    const stored = db.prepare('SELECT event_id FROM trace_events').pluck().all() as string[];
    db.close();
    expect(stored).toHaveLength(1234);
    expect(new Set(stored)).toEqual(ids);
  });

  it('writes in batches: a second connection sees nothing until a whole batch commits', () => {
    const log = logger({ batchSize: 500, flushIntervalMs: 0 });
    for (let i = 0; i < 499; i++)
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: { i } });
    expect(countEvents()).toBe(0);
    expect(log.stats.buffered).toBe(499);

    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: { i: 499 } });
    expect(countEvents()).toBe(500);
    expect(log.stats).toEqual({
      buffered: 0,
      deferred: 0,
      written: 500,
      dropped: 0,
      failing: false,
    });

    for (let i = 500; i < 999; i++)
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: { i } });
    expect(countEvents()).toBe(500);
    log.flush();
    expect(countEvents()).toBe(999);
  });

  it('counts an allowed call as one row toward batchSize: its start and end are columns of it', () => {
    const log = logger({ batchSize: 3, flushIntervalMs: 0 });
    const allowed = (i: number) => {
      const action = createAction({ toolName: 'echo', toolArgs: { i } });
      log.logEvent({
        runId: 'r',
        eventType: 'action_proposed',
        payload: actionVerdictPayload(action, 'allow_all', { verdict: 'allow', reason: 'ok' }),
      });
      log.logToolExecutionStart('r', action);
      log.logToolExecutionEnd('r', {
        actionId: action.id,
        success: true,
        durationMs: 1,
        executed: true,
      });
    };
    allowed(0);
    allowed(1);
    expect(countEvents()).toBe(0);
    allowed(2); // the third call's proposal is the third row
    expect(countEvents()).toBe(7);
    log.flush();
    expect(countEvents()).toBe(9);
  });

  it('flushes on its timer without keeping rows waiting', async () => {
    const log = logger({ flushIntervalMs: 30 });
    for (let i = 0; i < 3; i++) log.logEvent({ runId: 'r', eventType: 'llm_call' });
    expect(countEvents()).toBe(0);
    const deadline = Date.now() + 3000;
    while (countEvents() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(countEvents()).toBe(3);
    expect(log.stats.buffered).toBe(0);
  });

  it('returns a run’s events in the order they were logged, even with equal timestamps', () => {
    const log = logger({ batchSize: 3 });
    const at = '2025-01-01T00:00:00.000Z';
    const types: EventType[] = [
      'action_proposed',
      'approval_requested',
      'approval_decided',
      'tool_execution_start',
      'tool_execution_end',
      'error',
      'llm_call',
    ];
    for (const [i, eventType] of types.entries()) {
      log.logEvent({ runId: 'a', eventType, timestamp: at, payload: { step: i } });
      log.logEvent({ runId: 'b', eventType: 'llm_call', timestamp: at, payload: { step: i } });
    }
    const events = log.getRunEvents('a');
    expect(events.map((e) => e.eventType)).toEqual(types);
    expect(events.map((e) => e.payload.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(events.every((e) => e.runId === 'a' && e.timestamp === at)).toBe(true);
    expect(log.getRunEvents('b')).toHaveLength(7);
    expect(log.getRunEvents('nobody')).toEqual([]);
  });

  it('records runs: start and end rows, run_start/run_end events, metadata merged, by condition', () => {
    const log = logger();
    const r1 = log.startRun({
      condition: 'risk_based',
      scenario: 'email_draft',
      metadata: { seed: 7, reviewer_accuracy: 0.9 },
      timestamp: new Date('2025-02-01T09:00:00Z'),
    });
    const r2 = log.startRun({ runId: 'fixed-id', condition: 'always_approve' });
    const r3 = log.startRun({ condition: 'risk_based', timestamp: '2025-02-01T10:00:00.000Z' });
    expect(r2).toBe('fixed-id');
    expect(r1).toMatch(/^[0-9a-f-]{36}$/);
    log.endRun(r1, {
      success: false,
      metadata: { wrong_recipient: true, seed: 8 },
      timestamp: '2025-02-01T09:01:00.000Z',
    });
    log.endRun(r3, { success: true });

    const runs = log.getRunsByCondition('risk_based');
    expect(runs.map((r) => r.runId)).toEqual([r1, r3]);
    expect(runs[0]).toEqual({
      runId: r1,
      condition: 'risk_based',
      scenario: 'email_draft',
      startTime: '2025-02-01T09:00:00.000Z',
      endTime: '2025-02-01T09:01:00.000Z',
      success: false,
      metadata: { seed: 8, reviewer_accuracy: 0.9, wrong_recipient: true },
    });
    expect(runs[1]?.success).toBe(true);
    expect(runs[1]?.endTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(log.getRun(r2)).toMatchObject({
      condition: 'always_approve',
      endTime: null,
      success: null,
    });
    expect(log.getRunsByCondition('nope')).toEqual([]);

    expect(log.getRunEvents(r1).map((e) => [e.eventType, e.payload])).toEqual([
      [
        'run_start',
        {
          scenario_id: 'email_draft',
          condition_id: 'risk_based',
          agent_version: null,
          model: null,
          seed: null,
          condition: 'risk_based',
          scenario: 'email_draft',
        },
      ],
      ['run_end', { task_success: false, validation_details: {}, success: false }],
    ]);

    // Starting a run again (a resumed process) keeps the first row.
    log.startRun({ runId: r1, condition: 'other' });
    expect(log.getRun(r1)?.condition).toBe('risk_based');
  });

  it('writes the seed’s snake_case payload keys from the models', () => {
    const log = logger();
    const action = createAction({
      id: 'a1',
      toolName: 'send_email',
      toolArgs: { to: 'bob@example.com' },
      riskClass: 'high',
      rationale: 'user asked',
    });
    const request = ApprovalRequest.parse({
      runId: 'r',
      action,
      policyName: 'risk_based',
      policyReason: 'high risk tool',
      createdAt: '2025-03-01T00:00:00.000Z',
    });
    const decision = Decision.parse({
      actionId: 'a1',
      approved: true,
      reason: 'fixed recipient',
      decidedBy: 'cli:alice',
      latencyMs: 4200,
      editedArgs: { to: 'alice@example.com' },
    });
    log.logActionProposed('r', action);
    log.logApprovalRequested('r', request);
    log.logApprovalDecided('r', decision, { toolName: 'send_email', policyName: 'risk_based' });
    log.logToolExecutionStart('r', action, decision.editedArgs);
    log.logToolExecutionEnd(
      'r',
      ToolResult.parse({ actionId: 'a1', success: false, error: 'smtp down', durationMs: 31 }),
    );
    log.logError('r', new RangeError('boom'), { action_id: 'a1' });

    const payloads = log.getRunEvents('r').map((e) => e.payload);
    expect(payloads).toEqual([
      {
        action_id: 'a1',
        tool_name: 'send_email',
        args_hash: argsHash({ to: 'bob@example.com' }),
        risk_class: 'high',
        side_effects: [],
        tool_args: { to: 'bob@example.com' },
        rationale: 'user asked',
        context_refs: [],
      },
      {
        action_id: 'a1',
        channel: 'unknown',
        policy_name: 'risk_based',
        policy_reason: 'high risk tool',
        requested_at: '2025-03-01T00:00:00.000Z',
        tool_name: 'send_email',
        tool_args: { to: 'bob@example.com' },
        risk_class: 'high',
        created_at: '2025-03-01T00:00:00.000Z',
        expires_at: null,
      },
      {
        action_id: 'a1',
        approved: true,
        reason: 'fixed recipient',
        tags: [],
        decided_by: 'cli:alice',
        latency_ms: 4200,
        channel: 'cli',
        decided_at: expect.any(String),
        edited_args: { to: 'alice@example.com' },
        timed_out: false,
        tool_name: 'send_email',
        policy_name: 'risk_based',
      },
      { action_id: 'a1', tool_name: 'send_email', tool_args: { to: 'alice@example.com' } },
      {
        action_id: 'a1',
        success: false,
        error: 'smtp down',
        error_class: null,
        retry_count: 0,
        execution_time_ms: 31,
        duration_ms: 31,
        executed: true,
      },
      {
        error_type: 'RangeError',
        error_message: 'boom',
        context: { action_id: 'a1' },
        error: 'boom',
        action_id: 'a1',
      },
    ]);
    // The seed's keys come first, in the seed's order (a pandas frame of
    // payloads gets the seed's columns first).
    expect(Object.keys(payloads[0]!).slice(0, 5)).toEqual([
      'action_id',
      'tool_name',
      'args_hash',
      'risk_class',
      'side_effects',
    ]);
    expect(Object.keys(payloads[1]!).slice(0, 5)).toEqual([
      'action_id',
      'channel',
      'policy_name',
      'policy_reason',
      'requested_at',
    ]);
    expect(Object.keys(payloads[2]!).slice(0, 8)).toEqual([
      'action_id',
      'approved',
      'reason',
      'tags',
      'decided_by',
      'latency_ms',
      'channel',
      'decided_at',
    ]);
    expect(Object.keys(payloads[5]!).slice(0, 3)).toEqual([
      'error_type',
      'error_message',
      'context',
    ]);
  });

  it('logs llm_call with the seed’s keys, tokens included', () => {
    const log = logger();
    log.logLlmCall('r', { model: 'gpt-4o-mini', tokensIn: 812, tokensOut: 64, latencyMs: 930 });
    log.logLlmCall('r', {});
    expect(log.getRunEvents('r').map((e) => [e.eventType, e.payload])).toEqual([
      [
        'llm_call',
        {
          prompt_hash: null,
          template_id: null,
          tokens_in: 812,
          tokens_out: 64,
          latency_ms: 930,
          model: 'gpt-4o-mini',
        },
      ],
      [
        'llm_call',
        {
          prompt_hash: null,
          template_id: null,
          tokens_in: null,
          tokens_out: null,
          latency_ms: null,
          model: null,
        },
      ],
    ]);
  });

  it('rejects an unknown event type or a non-object payload, buffering nothing', () => {
    const log = logger();
    expect(() => log.logEvent({ runId: 'r', eventType: 'approval_granted' as EventType })).toThrow(
      TypeError,
    );
    expect(() => log.logEvent({ runId: 'r', eventType: 'approval_granted' as EventType })).toThrow(
      /unknown telemetry event type "approval_granted"; expected one of run_start, .*injected_error/,
    );
    expect(() =>
      log.logEvent({
        runId: 'r',
        eventType: 'llm_call',
        payload: [1, 2] as unknown as Record<string, unknown>,
      }),
    ).toThrow(/payload must be a JSON object/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => log.logEvent({ runId: 'r', eventType: 'llm_call', payload: circular })).toThrow(
      /not JSON-serialisable/,
    );
    expect(() => log.logEvent({ runId: '', eventType: 'llm_call' })).toThrow(/runId/);
    expect(log.stats.buffered).toBe(0);
  });

  it('stores an event id once, so a replayed step is not doubled', () => {
    const log = logger();
    log.logEvent({
      runId: 'r',
      eventType: 'action_proposed',
      eventId: 'step-1',
      payload: { n: 1 },
    });
    log.flush();
    log.logEvent({
      runId: 'r',
      eventType: 'action_proposed',
      eventId: 'step-1',
      payload: { n: 2 },
    });
    log.logEvent({ runId: 'r', eventType: 'action_proposed', eventId: 'step-2' });
    expect(log.getRunEvents('r').map((e) => [e.eventId, e.payload])).toEqual([
      ['step-1', { n: 1 }],
      ['step-2', {}],
    ]);
  });

  it('registers one exit hook for all loggers and removes it when the last closes', () => {
    const before = process.listenerCount('exit');
    const a = new TelemetryLogger({ dbPath: file });
    const b = new TelemetryLogger({ dbPath: join(dir, 'other.db') });
    expect(process.listenerCount('exit')).toBe(before + 1);
    a.close();
    expect(process.listenerCount('exit')).toBe(before + 1);
    b.close();
    expect(process.listenerCount('exit')).toBe(before);
    b.close(); // twice is harmless
    expect(() => a.logEvent({ runId: 'r', eventType: 'llm_call' })).toThrow(/closed/);
  });

  it('reads malformed rows written by another tool without failing', () => {
    const log = logger();
    log.database
      .prepare(
        'INSERT INTO trace_events (event_id, run_id, event_type, timestamp, payload) VALUES (?, ?, ?, ?, ?)',
      )
      .run('bad', 'r', 'llm_call', '2025-01-01T00:00:00.000Z', '{not json');
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: { ok: true } });
    const [bad, good] = log.getRunEvents('r');
    expect(bad).toMatchObject({ eventId: 'bad', payload: {}, payloadRaw: '{not json' });
    expect(bad?.payloadError).toMatch(/^invalid JSON/);
    expect(good?.payload).toEqual({ ok: true });
    expect(good?.payloadError).toBeUndefined();
  });

  it('validates its options', () => {
    expect(() => new TelemetryLogger({ dbPath: file, batchSize: 0 })).toThrow(RangeError);
    expect(() => new TelemetryLogger({ dbPath: file, flushIntervalMs: -1 })).toThrow(RangeError);
  });
});
