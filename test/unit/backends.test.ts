import { describe, expect, it } from 'vitest';
import {
  AutoApproveBackend,
  AutoRejectBackend,
  ScriptExhaustedError,
  ScriptedBackend,
} from '../../shared/backends/index.js';
import { createAction } from '../../shared/models/action.js';
import { ApprovalRequest } from '../../shared/models/approval-request.js';
import { Decision, isTimeoutDecision } from '../../shared/models/decision.js';
import { argsHash } from '../../shared/util/canonical-json.js';

function request(
  toolArgs: Record<string, unknown> = { to: 'a@b.c' },
  id = 'act-1',
): ApprovalRequest {
  return ApprovalRequest.parse({
    runId: 'run-1',
    action: createAction({ id, toolName: 'send_email', toolArgs, riskClass: 'high' }),
    policyName: 'risk_based',
    policyReason: 'high risk tool',
    createdAt: new Date().toISOString(),
  });
}

function expectFreshTimestamp(decidedAt: string | undefined): void {
  expect(decidedAt).toBeDefined();
  expect(Math.abs(Date.parse(decidedAt!) - Date.now())).toBeLessThan(5_000);
}

describe('AutoApproveBackend', () => {
  it('approves, labels and hashes', async () => {
    const req = request({ b: 2, a: 1 });
    const d = await new AutoApproveBackend().requestApproval(req);
    expect(Decision.parse(d)).toEqual(d);
    expect(d.approved).toBe(true);
    expect(d.decidedBy).toBe('auto:approve');
    expect(d.actionId).toBe('act-1');
    expect(d.argsHash).toBe(argsHash({ a: 1, b: 2 }));
    expect(d.reason).toMatch(/no human was asked/);
    expect(typeof d.latencyMs).toBe('number');
    expect(d.latencyMs).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(d.latencyMs)).toBe(true);
    expectFreshTimestamp(d.decidedAt);
    expect(d.editedArgs).toBeUndefined();
  });

  it('measures latency instead of hard-coding it', async () => {
    // Hashing a large argument object takes measurable time; a hard-coded 0 would not.
    const big = { rows: Array.from({ length: 50_000 }, (_, i) => ({ i, s: `row ${i}` })) };
    const d = await new AutoApproveBackend().requestApproval(request(big));
    expect(d.latencyMs).toBeGreaterThan(0);
  });

  it('refuses a request that is already withdrawn', async () => {
    const ctl = new AbortController();
    ctl.abort();
    await expect(
      new AutoApproveBackend().requestApproval(request(), { signal: ctl.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('AutoRejectBackend', () => {
  it('rejects with a default reason that says no human was asked', async () => {
    const d = await new AutoRejectBackend().requestApproval(request());
    expect(Decision.parse(d)).toEqual(d);
    expect(d.approved).toBe(false);
    expect(d.decidedBy).toBe('auto:reject');
    expect(d.reason).toMatch(/automatically/i);
    expect(d.reason).toMatch(/no human was asked/);
    expect(d.argsHash).toBe(argsHash({ to: 'a@b.c' }));
    expect(d.latencyMs).toBeGreaterThanOrEqual(0);
    expectFreshTimestamp(d.decidedAt);
    expect(isTimeoutDecision(d)).toBe(false);
  });

  it('keeps a configured reason and still says no human was asked', async () => {
    const d = await new AutoRejectBackend({ reason: 'read-only mode' }).requestApproval(request());
    expect(d.reason).toBe('read-only mode (rejected automatically; no human was asked)');
  });
});

describe('ScriptedBackend', () => {
  it('answers from a queue in order and records requests', async () => {
    const backend = new ScriptedBackend([
      { approved: true },
      { approved: false, reason: 'wrong recipient', decidedBy: 'scripted:alice' },
      { approved: true, editedArgs: { to: 'fixed@b.c' }, tags: ['edited'] },
    ]);
    const r1 = request({ to: '1' }, 'a1');
    const r2 = request({ to: '2' }, 'a2');
    const r3 = request({ to: '3' }, 'a3');
    const d1 = await backend.requestApproval(r1);
    const d2 = await backend.requestApproval(r2);
    const d3 = await backend.requestApproval(r3);
    expect([d1.approved, d2.approved, d3.approved]).toEqual([true, false, true]);
    expect(d1.decidedBy).toBe('scripted:test');
    expect(d2).toMatchObject({
      decidedBy: 'scripted:alice',
      reason: 'wrong recipient',
      actionId: 'a2',
    });
    expect(d3.editedArgs).toEqual({ to: 'fixed@b.c' });
    expect(d3.argsHash).toBe(argsHash({ to: 'fixed@b.c' }));
    expect(d3.tags).toEqual(['edited']);
    expect(d1.argsHash).toBe(argsHash({ to: '1' }));
    expect(backend.requests).toEqual([r1, r2, r3]);
    expect(backend.remaining).toBe(0);
    for (const d of [d1, d2, d3]) expect(Decision.parse(d)).toEqual(d);
  });

  it('gives concurrent calls answers in call order, whatever the delays', async () => {
    const backend = new ScriptedBackend([
      { approved: false, reason: 'first', delayMs: 40 },
      { approved: true, reason: 'second', delayMs: 1 },
    ]);
    const [d1, d2] = await Promise.all([
      backend.requestApproval(request({}, 'a1')),
      backend.requestApproval(request({}, 'a2')),
    ]);
    expect([d1.reason, d1.actionId, d2.reason, d2.actionId]).toEqual([
      'first',
      'a1',
      'second',
      'a2',
    ]);
    expect(d1.latencyMs).toBeGreaterThanOrEqual(35);
  });

  it('answers from a function', async () => {
    const backend = new ScriptedBackend((req, index) => ({
      approved: req.action.toolArgs.to !== 'evil',
      reason: `call ${index}`,
    }));
    const ok = await backend.requestApproval(request({ to: 'good' }));
    const bad = await backend.requestApproval(request({ to: 'evil' }));
    expect([ok.approved, ok.reason, bad.approved, bad.reason]).toEqual([
      true,
      'call 0',
      false,
      'call 1',
    ]);
  });

  it('fails clearly when the script runs out, and push() refills it', async () => {
    const backend = new ScriptedBackend([{ approved: true }]);
    await backend.requestApproval(request());
    const err = await backend.requestApproval(request({}, 'a2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScriptExhaustedError);
    expect((err as Error).message).toMatch(/no scripted answer left for request #2/);
    expect((err as Error).message).toMatch(/send_email/);
    backend.push({ approved: false });
    expect((await backend.requestApproval(request())).approved).toBe(false);
  });

  it('honours abort during a delay', async () => {
    const backend = new ScriptedBackend([{ approved: true, delayMs: 10_000 }]);
    const ctl = new AbortController();
    const started = performance.now();
    const pending = backend.requestApproval(request(), { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 10);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('times out with scripted:timeout (per-request and constructor default)', async () => {
    const perRequest = await new ScriptedBackend([
      { approved: true, delayMs: 5_000 },
    ]).requestApproval(request(), { timeoutMs: 20 });
    expect(perRequest).toMatchObject({ approved: false, decidedBy: 'scripted:timeout' });
    expect(perRequest.reason).toMatch(/no human rejected/);
    expect(perRequest.latencyMs).toBeGreaterThanOrEqual(15);
    expect(perRequest.latencyMs).toBeLessThan(1_000);
    expect(isTimeoutDecision(perRequest)).toBe(true);

    const never = new ScriptedBackend([{ approved: true, delayMs: Number.POSITIVE_INFINITY }], {
      timeoutMs: 15,
    });
    expect((await never.requestApproval(request())).decidedBy).toBe('scripted:timeout');
  });

  it('answers before the timeout when the delay is shorter', async () => {
    const d = await new ScriptedBackend([{ approved: true, delayMs: 5 }], {
      timeoutMs: 1_000,
    }).requestApproval(request());
    expect(d).toMatchObject({ approved: true, decidedBy: 'scripted:test' });
  });

  it('checks scripted edits against validateArgs', async () => {
    const backend = new ScriptedBackend([{ approved: true, editedArgs: { to: 42 } }]);
    await expect(
      backend.requestApproval(request(), {
        validateArgs: (a) => (typeof a.to === 'string' ? [] : ['to must be a string']),
      }),
    ).rejects.toThrow(/to must be a string/);
  });
});
