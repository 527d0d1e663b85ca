import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { createStandardConditions } from '../../shared/eval/conditions.js';
import { InjectionConfig } from '../../shared/eval/injector.js';
import { EmailDraftScenario } from '../../shared/eval/scenarios/email-draft.js';
import { RecordUpdateScenario } from '../../shared/eval/scenarios/record-update.js';
import { ErrorTypeName, errorTypeFromName, InjectionType } from '../../shared/eval/types.js';
import { Decision, RecordedDecision, recordDecision } from '../../shared/models/decision.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { approvalDecidedPayload } from '../../shared/telemetry/payloads.js';
import {
  CircuitBreaker,
  CircuitBreakerConfig,
  DEFAULT_CIRCUIT_BREAKER,
} from '../../shared/webhooks/circuit-breaker.js';
import { DEFAULT_RETRY, RetryConfig, retryDelay } from '../../shared/webhooks/retry.js';

describe('seed defaults: RetryConfig and CircuitBreakerConfig', () => {
  it('retries as the seed did: 3 retries waiting 1, 2, 4 s (before jitter), capped at 30 s', () => {
    expect(DEFAULT_RETRY).toEqual(RetryConfig.parse({}));
    expect(DEFAULT_RETRY.maxAttempts).toBe(4);
    const noJitter = () => 0;
    expect([1, 2, 3].map((n) => retryDelay(n, DEFAULT_RETRY, noJitter))).toEqual([
      1_000, 2_000, 4_000,
    ]);
    expect(retryDelay(20, DEFAULT_RETRY, noJitter)).toBe(30_000);
    // A partial config keeps the other defaults, as the seed's dataclass did.
    expect(RetryConfig.parse({ maxAttempts: 6 })).toMatchObject({
      maxAttempts: 6,
      baseDelayMs: 1_000,
    });
  });

  it('answers the seed’s option names with ours', () => {
    const retry = RetryConfig.safeParse({ maxRetries: 3, initialDelay: 1, exponentialBase: 2 });
    expect(retry.success).toBe(false);
    expect(retry.error?.issues[0]?.message).toBe(
      "maxRetries, initialDelay, exponentialBase are names from the Python hitloop's RetryConfig; write maxRetries → maxAttempts (tries in all: maxRetries + 1); initialDelay → baseDelayMs (milliseconds: initialDelay × 1000); exponentialBase → nothing (the base is always 2, the seed’s default)",
    );
    // Unknown keys that are not the seed's keep zod's plain message.
    expect(RetryConfig.safeParse({ retries: 3 }).error?.issues[0]?.message).toMatch(
      /Unrecognized key/,
    );
    expect(
      CircuitBreakerConfig.safeParse({ failureThreshold: 5, recoveryTimeout: 30 }).error?.issues[0]
        ?.message,
    ).toMatch(/recoveryTimeout → resetTimeoutMs \(milliseconds: recoveryTimeout × 1000\)/);
  });

  it('a default breaker lets three trial calls through when half-open, as the seed did', async () => {
    let now = 0;
    const breaker = new CircuitBreaker(DEFAULT_CIRCUIT_BREAKER, { now: () => now });
    for (let i = 0; i < 5; i++)
      await breaker.call(() => Promise.reject(new Error('down'))).catch(() => undefined);
    expect(breaker.getCircuitState()).toBe('open');
    now = 30_000;
    expect(breaker.getCircuitState()).toBe('half-open');
    const gates: Array<() => void> = [];
    const trial = () => breaker.call(() => new Promise<void>((r) => gates.push(r)));
    const trials = [trial(), trial(), trial()];
    await expect(trial()).rejects.toThrow(/a trial call is already testing/);
    for (const open of gates) open();
    await Promise.all(trials);
    expect(breaker.getCircuitState()).toBe('closed');
  });
});

describe('Decision without decidedBy or latencyMs', () => {
  it('parses like the seed’s Decision(action_id, approved), and RecordedDecision requires both', () => {
    const bare = Decision.parse({ actionId: 'a1', approved: false });
    expect(bare.decidedBy).toBeUndefined();
    expect(RecordedDecision.safeParse(bare).success).toBe(false);
    const recorded = recordDecision(bare, { channel: 'slack', latencyMs: 812 });
    expect(recorded).toMatchObject({ decidedBy: 'slack:unknown', latencyMs: 812 });
    expect(RecordedDecision.safeParse(recorded).success).toBe(true);
    // What the backend said is kept.
    expect(
      recordDecision(
        { ...bare, decidedBy: 'cli:alice', latencyMs: 5 },
        { channel: 'cli', latencyMs: 900 },
      ),
    ).toMatchObject({ decidedBy: 'cli:alice', latencyMs: 5 });
  });

  it('is logged with the seed’s defaults when the caller logs it directly', () => {
    const payload = approvalDecidedPayload(Decision.parse({ actionId: 'a1', approved: true }));
    expect(payload).toMatchObject({
      decided_by: 'unknown',
      latency_ms: 0,
      channel: 'unknown',
      timed_out: false,
    });
    expect(
      approvalDecidedPayload(Decision.parse({ actionId: 'a1', approved: true }), { channel: 'cli' })
        .decided_by,
    ).toBe('cli:unknown');
    const logger = new TelemetryLogger(':memory:');
    try {
      const runId = logger.startRun({ condition: 'c' });
      logger.logApprovalDecided(runId, Decision.parse({ actionId: 'a1', approved: true }));
      const event = logger.getRunEvents(runId).find((e) => e.eventType === 'approval_decided');
      expect(event?.payload).toMatchObject({ decided_by: 'unknown', latency_ms: 0 });
    } finally {
      logger.close();
    }
  });
});

describe('injection types by the seed’s names', () => {
  it('accepts every form a seed user writes', () => {
    expect(InjectionType.WRONG_RECIPIENT).toBe('wrong_recipient');
    for (const name of [
      'wrong_record_id',
      'WRONG_RECORD_ID',
      'InjectionType.WRONG_RECORD_ID',
      ' Wrong_Record_Id ',
    ])
      expect(errorTypeFromName(name)).toBe('wrong_record_id');
    expect(errorTypeFromName('WRONG_THING')).toBeUndefined();
    expect(ErrorTypeName.safeParse('WRONG_THING').error?.issues[0]?.message).toMatch(
      /unknown error type "WRONG_THING"; the types are wrong_recipient, wrong_record_id/,
    );
    expect(
      InjectionConfig.parse({
        rate: 0.2,
        seed: 1,
        types: ['WRONG_AMOUNT', InjectionType.INVALID_TOOL],
      }).types,
    ).toEqual(['wrong_amount', 'invalid_tool']);
    expect(
      InjectionConfig.safeParse({
        injectionRate: 0.2,
        injectionTypes: [],
        seed: 1,
      }).error?.issues.at(-1)?.message,
    ).toMatch(/injectionRate → rate; injectionTypes → types/);
  });

  it('createStandardConditions refuses a kind the scenario cannot plant at once, not at the first trial', () => {
    const make = () =>
      createStandardConditions(new RecordUpdateScenario(), 10, 0.2, {
        errorTypes: [InjectionType.WRONG_RECIPIENT, InjectionType.WRONG_RECORD_ID],
      });
    expect(make).toThrow(ConfigError);
    expect(make).toThrow(
      /scenario record_update cannot express wrong_recipient; it supports wrong_record_id.*\n {2}fix: drop wrong_recipient \(types: \['wrong_record_id'\]\)/,
    );
    const ok = createStandardConditions(new EmailDraftScenario(), 10, 0.2, {
      errorTypes: ['WRONG_RECIPIENT'],
    });
    expect(ok[0]!.injection.types).toEqual(['wrong_recipient']);
  });
});
