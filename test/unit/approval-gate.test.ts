import { afterEach, describe, expect, it } from 'vitest';
import { ScriptedBackend } from '../../shared/backends/scripted.js';
import { gateAction, notExecutedMessage } from '../../shared/gate/approval-gate.js';
import { createAction } from '../../shared/models/action.js';
import { RulesPolicy } from '../../shared/policies/rules.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { argsHash } from '../../shared/util/canonical-json.js';

const policy = new RulesPolicy({
  default: 'ask',
  rules: [
    { tool: 'read_*', effect: 'allow' },
    { tool: '*delete*', effect: 'deny', reason: 'deletions are for people', id: 'no-delete' },
  ],
});

describe('gateAction', () => {
  let logger: TelemetryLogger | undefined;
  afterEach(() => logger?.close());

  it('allows without asking, and logs the verdict', async () => {
    logger = new TelemetryLogger({ dbPath: ':memory:' });
    const runId = logger.startRun({ condition: 'rules' });
    const backend = new ScriptedBackend([]);
    const action = createAction({ toolName: 'read_file', toolArgs: { path: 'a' } });
    const out = await gateAction(action, { policy, backend, runId, logger });
    expect(out).toMatchObject({ kind: 'allowed', args: { path: 'a' } });
    expect(backend.requests).toHaveLength(0);
    const events = logger.getRunEvents(runId).filter((e) => e.eventType !== 'run_start');
    expect(events.map((e) => e.eventType)).toEqual(['action_proposed']);
    expect(events[0]!.payload).toMatchObject({ policy_verdict: 'allow', tool_name: 'read_file' });
  });

  it('denies by policy without asking and says the tool was not executed', async () => {
    const backend = new ScriptedBackend([]);
    const action = createAction({ toolName: 'delete_file', toolArgs: {}, server: 'fs' });
    const out = await gateAction(action, { policy, backend, runId: 'r' });
    expect(out.kind).toBe('denied');
    if (out.kind !== 'denied') throw new Error('unreachable');
    const text = notExecutedMessage(out);
    expect(text).toContain("Tool 'fs/delete_file' was NOT executed");
    expect(text).toContain('rule no-delete');
    expect(text).toContain('deletions are for people');
  });

  it('asks, applies edited arguments, and logs request and decision', async () => {
    logger = new TelemetryLogger({ dbPath: ':memory:' });
    const runId = logger.startRun({});
    const backend = new ScriptedBackend([{ approved: true, editedArgs: { path: '/tmp/safe' } }]);
    const action = createAction({ toolName: 'write_file', toolArgs: { path: '/etc/x' } });
    const out = await gateAction(action, { policy, backend, runId, logger, timeoutMs: 5000 });
    expect(out).toMatchObject({ kind: 'approved', edited: true, args: { path: '/tmp/safe' } });
    expect(backend.requests[0]!.expiresAt).toBeDefined();
    const types = logger.getRunEvents(runId).map((e) => e.eventType);
    expect(types).toEqual([
      'run_start',
      'action_proposed',
      'approval_requested',
      'approval_decided',
    ]);
  });

  it('labels a human rejection and a timeout differently', async () => {
    const human = await gateAction(createAction({ toolName: 'write_file', toolArgs: {} }), {
      policy,
      backend: new ScriptedBackend([
        { approved: false, reason: 'wrong file', decidedBy: 'cli:alice' },
      ]),
      runId: 'r',
    });
    const timeout = await gateAction(createAction({ toolName: 'write_file', toolArgs: {} }), {
      policy,
      backend: new ScriptedBackend([{ approved: true, delayMs: 10_000 }], { timeoutMs: 20 }),
      runId: 'r',
    });
    if (human.kind !== 'rejected' || timeout.kind !== 'rejected')
      throw new Error('expected rejections');
    expect(notExecutedMessage(human)).toMatch(
      /NOT executed: rejected by cli:alice\. Reason: wrong file/,
    );
    const t = notExecutedMessage(timeout);
    expect(t).toContain('timed out (scripted:timeout)');
    expect(t).toContain('no human rejected it');
    expect(t).not.toContain('rejected by');
  });

  it('never runs an approval that names other arguments than the call', async () => {
    const action = createAction({ toolName: 'write_file', toolArgs: { path: '/' } });
    // A backend answering with a decision made on other arguments (a reused id).
    const stale = {
      name: 'stale',
      async requestApproval() {
        return {
          actionId: action.id,
          approved: true,
          reason: '',
          decidedBy: 'hub:alice',
          latencyMs: 1,
          tags: [],
          argsHash: argsHash({ path: '/tmp/a' }),
        };
      },
    };
    const out = await gateAction(action, { policy, backend: stale, runId: 'r' });
    expect(out.kind).toBe('rejected');
    if (out.kind !== 'rejected') throw new Error('unreachable');
    expect(out.decision.decidedBy).toBe('system:args_mismatch');
    expect(notExecutedMessage(out)).toContain('approval was given for other arguments');
    // The same decision for these arguments runs.
    const fresh = {
      ...stale,
      requestApproval: async () => ({
        ...(await stale.requestApproval()),
        argsHash: argsHash({ path: '/' }),
      }),
    };
    expect((await gateAction(action, { policy, backend: fresh, runId: 'r' })).kind).toBe(
      'approved',
    );
  });

  it('withdraws the request when aborted', async () => {
    const controller = new AbortController();
    const pending = gateAction(createAction({ toolName: 'write_file', toolArgs: {} }), {
      policy,
      backend: new ScriptedBackend([{ approved: true, delayMs: 10_000 }]),
      runId: 'r',
      signal: controller.signal,
    });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});
