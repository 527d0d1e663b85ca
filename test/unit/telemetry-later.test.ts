import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallRecorder } from '../../mcp-server/proxy/session/call-recorder.js';
import { AutoRejectBackend } from '../../shared/backends/auto-reject.js';
import { gateAction } from '../../shared/gate/approval-gate.js';
import { createAction } from '../../shared/models/action.js';
import { AlwaysApprovePolicy } from '../../shared/policies/always-approve.js';
import { type TelemetryError, TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// TelemetryLogger.later and the proxy's CallRecorder: records handed over
// run after the caller's work, keep their order with every other write, keep
// the time they happened, and are never lost to a flush, a close or a read.

let dir: string;
beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-later-');
});
afterEach(() => {
  vi.useRealTimers();
});

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const log = { warn: vi.fn(), error: vi.fn(), info: vi.fn(), debug: vi.fn(), enabled: () => true };

function eventsOf(logger: TelemetryLogger, runId: string) {
  return logger
    .getRunEvents(runId)
    .map((e) => ({ type: e.eventType, at: e.timestamp, p: e.payload }));
}

describe('TelemetryLogger.later', () => {
  it('runs a record at the next turn, not while the caller works', async () => {
    const logger = new TelemetryLogger({ dbPath: join(dir, 'a.db'), flushIntervalMs: 0 });
    let ran = false;
    logger.later(() => {
      ran = true;
      logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 1 } });
    });
    expect(ran).toBe(false);
    expect(logger.stats).toMatchObject({ buffered: 0, deferred: 1 });
    await nextTurn();
    expect(ran).toBe(true);
    expect(logger.stats).toMatchObject({ buffered: 1, deferred: 0 });
    logger.close();
  });

  it('runs what was handed over before any other write, so events keep the order they happened in', () => {
    const logger = new TelemetryLogger({ dbPath: join(dir, 'b.db') });
    logger.later(() => logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 1 } }));
    logger.later(() => logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 2 } }));
    logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 3 } });
    logger.later(() => logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 4 } }));
    // A read, a flush and a close each run the records first.
    expect(eventsOf(logger, 'r').map((e) => e.p.n)).toEqual([1, 2, 3, 4]);
    logger.later(() => logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 5 } }));
    logger.flush();
    expect(logger.stats.written).toBe(5);
    logger.later(() => logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 6 } }));
    logger.close();
    const reopened = new TelemetryLogger({ dbPath: join(dir, 'b.db') });
    expect(eventsOf(reopened, 'r').map((e) => e.p.n)).toEqual([1, 2, 3, 4, 5, 6]);
    reopened.close();
  });

  it('reports a record that throws through onError, and runs the others', async () => {
    const errors: TelemetryError[] = [];
    const logger = new TelemetryLogger({
      dbPath: join(dir, 'c.db'),
      onError: (err) => errors.push(err),
    });
    logger.later(() => {
      throw new Error('broken record');
    });
    logger.later(() => logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 1 } }));
    await nextTurn();
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('could not record an event'),
    ]);
    expect(errors[0]!.message).toContain('broken record');
    expect(eventsOf(logger, 'r').map((e) => e.p.n)).toEqual([1]);
    logger.close();
  });
});

describe('CallRecorder (the proxy, telemetry.required off)', () => {
  it('records an allowed call as it happened, after the call: proposal, start and end with their own times, one compact row', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const logger = new TelemetryLogger({ dbPath: join(dir, 'd.db'), flushIntervalMs: 0 });
    const runId = logger.startRun({ runId: 'proxy-run' });
    logger.flush();
    const recorder = new CallRecorder(logger, runId, log);
    const action = createAction({ id: 'a1', toolName: 'echo', toolArgs: { message: 'hi' } });

    vi.setSystemTime(new Date('2026-12-06T10:00:00.001Z'));
    const outcome = await gateAction(action, {
      policy: new AlwaysApprovePolicy(),
      backend: new AutoRejectBackend(),
      runId,
      logger: recorder.gateLogger,
    });
    expect(outcome.kind).toBe('allowed');
    vi.setSystemTime(new Date('2026-12-06T10:00:00.002Z'));
    recorder.start(action, action.toolArgs);
    vi.setSystemTime(new Date('2026-12-06T10:00:00.250Z'));
    recorder.end({ actionId: 'a1', success: true, durationMs: 248, executed: true });
    // Nothing is built or buffered on the call's path; the three records wait.
    expect(logger.stats.buffered).toBe(0);
    expect(logger.stats.deferred).toBe(3);

    vi.setSystemTime(new Date('2026-12-06T10:00:07.000Z'));
    await nextTurn();
    const events = eventsOf(logger, runId).filter((e) => e.type !== 'run_start');
    expect(events.map((e) => [e.type, e.at])).toEqual([
      ['action_proposed', '2026-12-06T10:00:00.001Z'],
      ['tool_execution_start', '2026-12-06T10:00:00.002Z'],
      ['tool_execution_end', '2026-12-06T10:00:00.250Z'],
    ]);
    expect(events[0]!.p).toMatchObject({
      action_id: 'a1',
      policy_verdict: 'allow',
      tool_args: { message: 'hi' },
    });
    expect(events[2]!.p).toMatchObject({ success: true, duration_ms: 248 });
    const rows = logger.database.prepare('SELECT count(*) AS n FROM tool_calls').get();
    expect(rows).toEqual({ n: 1 });
    logger.close();
  });

  it('a failed background write is a warning, never an exception into the call', async () => {
    const logger = new TelemetryLogger({ dbPath: join(dir, 'e.db') });
    const recorder = new CallRecorder(logger, 'r', log);
    logger.close(); // every later write fails: the logger is closed
    const action = createAction({ id: 'a2', toolName: 'echo', toolArgs: {} });
    log.warn.mockClear();
    expect(() => recorder.start(action, {})).not.toThrow();
    await nextTurn();
    expect(log.warn).toHaveBeenCalledWith(
      expect.stringMatching(/telemetry: could not record tool_execution_start: .*closed/),
    );
  });
});
