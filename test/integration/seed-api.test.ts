import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// Everything from the package's entry point, as a user imports it.
import {
  type Action,
  AlwaysApprovePolicy,
  type ApprovalBackend,
  type ApprovalRequest,
  AuditPlusEscalatePolicy,
  AutoApproveBackend,
  argsHash,
  CircuitBreakerConfig,
  ConfigError,
  createAction,
  createCallbackListener,
  createStandardConditions,
  Decision,
  EmailDraftScenario,
  ErrorInjector,
  ExperimentRunner,
  fromApprovalPredicate,
  gateAction,
  type HITLPolicy,
  InjectionType,
  MemoryApprovalStore,
  PersistentWebhookBackend,
  type PolicyDecision,
  RecordUpdateScenario,
  RetryConfig,
  RiskBasedPolicy,
  TelemetryLogger,
  WebhookBackend,
} from '../../shared/index.js';

import { runHitloop } from '../helpers/run-cli.js';

// The Python hitloop's README, example by example, typed in TypeScript as the
// "Coming from the Python hitloop" table in README.md says, and run.

const SCRIPT = fileURLToPath(new URL('../fixtures/seed-analysis.py', import.meta.url));
const PYTHON = process.env.HITLOOP_PYTHON ?? 'python3';
const dirs: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hitloop-seed-api-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the seed README, in TypeScript', () => {
  it('Core Models: Action and Decision (decided_by and latency_ms as the README gives them)', () => {
    const action = createAction({
      toolName: 'send_email',
      toolArgs: { recipient: 'alice@example.com', subject: 'Hello' },
      riskClass: 'medium',
      sideEffects: ['email_sent'],
      rationale: 'Sending follow-up email to client',
    });
    const decision = Decision.parse({
      actionId: action.id,
      approved: true,
      reason: 'Verified recipient is correct',
      decidedBy: 'human:operator',
      latencyMs: 1500.0,
    });
    expect(decision).toMatchObject({
      approved: true,
      decidedBy: 'human:operator',
      latencyMs: 1500,
    });
    // Decision(action_id=..., approved=True): who and how long may be left out.
    expect(Decision.parse({ actionId: action.id, approved: true })).toEqual({
      actionId: action.id,
      approved: true,
      reason: '',
      tags: [],
    });
    // latency_ms must be non-negative, as in the seed.
    expect(Decision.safeParse({ actionId: 'a', approved: true, latencyMs: -1 }).success).toBe(
      false,
    );
  });

  it('Policies: the three built-ins with the README options', async () => {
    const email = createAction({ toolName: 'send_email', toolArgs: { recipient: 'a@b.c' } });
    expect((await new AlwaysApprovePolicy().evaluate()).verdict).toBe('allow');
    const risk = new RiskBasedPolicy({
      requireApprovalForHigh: true,
      requireApprovalForMedium: false,
      highRiskTools: ['send_email', 'delete_record'],
    });
    expect((await risk.evaluate(email)).verdict).toBe('ask');
    const audit = new AuditPlusEscalatePolicy({
      auditSampleRate: 0.1,
      escalateOnHigh: true,
      anomalySignals: ['unusual_recipient', 'large_amount'],
      seed: 42,
    });
    const high = createAction({ toolName: 'transfer', toolArgs: { amount: 5 }, riskClass: 'high' });
    expect((await audit.evaluate(high, { runId: 'r' })).verdict).toBe('ask');
  });

  it('Adding a New Policy: should_request_approval becomes evaluate', async () => {
    class MyCustomPolicy implements HITLPolicy {
      readonly name = 'my_custom';
      constructor(private readonly criticalTools: string[]) {}
      evaluate(action: Action): PolicyDecision {
        if (this.criticalTools.includes(action.toolName))
          return { verdict: 'ask', reason: 'Critical tool requires approval' };
        return { verdict: 'allow', reason: 'Auto-approved' };
      }
    }
    const policy = new MyCustomPolicy(['delete_file']);
    expect(policy.evaluate(createAction({ toolName: 'delete_file', toolArgs: {} })).verdict).toBe(
      'ask',
    );
    // The seed's (bool, reason) predicate, adapted as it is.
    const predicate = fromApprovalPredicate('my_custom', (action) =>
      action.toolName === 'delete_file'
        ? [true, 'Critical tool requires approval']
        : [false, 'Auto-approved'],
    );
    expect(
      await predicate.evaluate(createAction({ toolName: 'delete_file', toolArgs: {} })),
    ).toMatchObject({ verdict: 'ask', reason: 'Critical tool requires approval' });
    // action.args_hash(): the full SHA-256 here.
    expect(argsHash({ recipient: 'a@b.c' })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('LangGraph Integration: a gate node whose backend returns a bare Decision gets who and how long filled in', async () => {
    const policy = new RiskBasedPolicy({
      requireApprovalForHigh: true,
      highRiskTools: ['send_email', 'delete_file', 'transfer_money'],
    });
    // A user's own backend, written like the seed's: Decision(action_id, approved).
    const backend: ApprovalBackend = {
      name: 'my_channel',
      async requestApproval(request: ApprovalRequest) {
        await new Promise((r) => setTimeout(r, 40));
        return Decision.parse({ actionId: request.action.id, approved: true });
      },
    };
    const logger = new TelemetryLogger(':memory:');
    cleanups.push(() => logger.close());
    const action = createAction({ toolName: 'send_email', toolArgs: { recipient: 'a@b.c' } });
    const outcome = await gateAction(action, { policy, backend, runId: 'my-run', logger });
    expect(outcome.kind).toBe('approved');
    if (outcome.kind !== 'approved') throw new Error('unreachable');
    expect(outcome.decision.decidedBy).toBe('my_channel:unknown');
    expect(outcome.decision.latencyMs).toBeGreaterThanOrEqual(35);
    const decided = logger.getRunEvents('my-run').find((e) => e.eventType === 'approval_decided');
    expect(decided?.payload).toMatchObject({
      decided_by: 'my_channel:unknown',
      channel: 'my_channel',
    });
    expect(decided?.payload.latency_ms as number).toBeGreaterThanOrEqual(35);
  });

  it('Third-Party Integrations: WebhookBackend(send_request=...) with a callback handler', async () => {
    let backend: WebhookBackend | undefined;
    const server = createServer(
      createCallbackListener((id, sig, body) => backend!.handleCallback(id, sig, body), {
        pathPrefix: '/hitloop/callback',
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const messages: string[] = [];
    // async def send_to_slack(request, callback_id, callback_url): ...
    const sendToSlack = async (
      request: ApprovalRequest,
      _callbackId: string,
      callbackUrl: string,
    ) => {
      messages.push(`Approve ${request.action.toolName}?`);
      // The "Approve" button: Slack's interaction handler POSTs to the callback URL.
      setTimeout(() => {
        void fetch(callbackUrl, {
          method: 'POST',
          body: JSON.stringify({
            approved: true,
            argsHash: argsHash(request.action.toolArgs),
            decidedBy: 'slack:U123',
          }),
        });
      }, 20);
    };
    backend = new WebhookBackend({
      sendRequest: sendToSlack,
      timeoutMs: 300_000,
      callbackBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hitloop/callback`,
    });
    const decision = await backend.requestApproval(request('send_email'));
    expect(messages).toEqual(['Approve send_email?']);
    expect(decision).toMatchObject({ approved: true, decidedBy: 'webhook:slack:U123' });
  });

  it('Retry & Circuit Breaker: the README options and the seed defaults', async () => {
    expect(RetryConfig.parse({})).toEqual({
      maxAttempts: 4, // max_retries=3
      baseDelayMs: 1_000, // initial_delay=1.0
      maxDelayMs: 30_000, // max_delay=30
      jitter: 0.5, // ours; the seed had none
    });
    expect(CircuitBreakerConfig.parse({})).toEqual({
      failureThreshold: 5,
      resetTimeoutMs: 30_000,
      halfOpenMaxCalls: 3,
    });
    const backend = new PersistentWebhookBackend({
      sendRequest: async () => undefined,
      callbackBaseUrl: 'http://127.0.0.1:9/hitloop/callback',
      secret: 'readme-secret-0123456789abcdef',
      store: new MemoryApprovalStore(),
      retry: { maxAttempts: 4, baseDelayMs: 1_000 },
      circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 30_000 },
    });
    cleanups.push(() => backend.close());
    expect(backend.getCircuitState()).toBe('closed');
    // Recovery after restart: list_pending + register_pending.
    const store = new MemoryApprovalStore();
    const options = {
      sendRequest: async () => undefined,
      callbackBaseUrl: 'http://127.0.0.1:9/hitloop/callback',
      secret: 'readme-secret-0123456789abcdef',
      store,
      threadId: 'user-123',
      heartbeatMs: 60_000,
    };
    const before = new PersistentWebhookBackend(options);
    const asked = before.requestApproval(request('send_email'), { timeoutMs: 60_000 });
    await expect.poll(async () => (await store.listPending('user-123')).length).toBe(1);
    await before.close();
    expect((await asked).decidedBy).toBe('webhook:unavailable');
    const after = new PersistentWebhookBackend(options);
    cleanups.push(() => after.close());
    const pending = await after.recover('user-123');
    expect(pending.map((r) => r.tool)).toEqual(['send_email']);
    const waiting = after.awaitRecovered(pending[0]!.id, { timeoutMs: 50 });
    expect((await waiting).decidedBy).toBe('webhook:timeout');
    // RetryConfig(max_retries=3, ...) typed with the seed's names says what to write.
    expect(() => RetryConfig.parse({ maxRetries: 3 })).toThrow(
      /maxRetries → maxAttempts \(tries in all: maxRetries \+ 1\)/,
    );
  });

  it('Injected Errors: the README example fails in email_draft naming the scenario, its types and what to write', () => {
    const config = {
      rate: 0.2,
      seed: 42,
      types: [InjectionType.WRONG_RECIPIENT, InjectionType.WRONG_RECORD_ID],
    };
    let error: unknown;
    try {
      new ErrorInjector(new EmailDraftScenario(), config);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      "injection.types: scenario email_draft cannot express wrong_record_id; it supports wrong_recipient, wrong_amount, invalid_tool, sensitive_data, malformed_args\n  fix: drop wrong_record_id (types: ['wrong_recipient']), or run a scenario that supports it",
    );
    expect(() => new ErrorInjector(new RecordUpdateScenario(), config)).toThrow(
      /scenario record_update cannot express wrong_recipient; it supports wrong_record_id/,
    );
    // Each scenario with the type it can plant: every action has known correctness.
    const scenario = new EmailDraftScenario();
    const injector = new ErrorInjector(scenario, {
      ...config,
      types: ['WRONG_RECIPIENT'],
      rate: 1,
    });
    const { action, truth } = injector.prepare(scenario.createTask('42|email_draft|task|0'), 0);
    expect(truth).toEqual({ injected: true, errorType: 'wrong_recipient' });
    expect(action.toolName).toMatch(/send_email|save_draft/);
  });

  it('Running Experiments: TelemetryLogger("experiment.db"), ExperimentRunner(logger), add_condition, run_all, export_results; a seed analysis script reads the result', async () => {
    const dir = tmp();
    const logger = new TelemetryLogger(join(dir, 'telemetry.db'));
    const scenario = new EmailDraftScenario();
    const conditions = createStandardConditions(scenario, 20, 0.2);
    const runner = new ExperimentRunner(logger, { outputDir: dir });
    for (const c of conditions) runner.addCondition(c);
    const progress: string[] = [];
    const records = await runner.runAll((current, total, message) =>
      progress.push(`${current}/${total} ${message}`),
    );
    const [csv, json] = runner.exportResults('results.csv', 'summary.json');
    logger.close();

    expect(records).toHaveLength(80);
    expect(progress[0]).toBe('1/80 Ran no_oversight trial 1/20');
    expect(progress.at(-1)).toBe('80/80 Ran always_review trial 20/20');
    expect(csv).toBe(join(dir, 'results.csv'));
    expect(readFileSync(csv!, 'utf8').split('\r\n')[0]!.split(',').slice(0, 8)).toEqual([
      'run_id',
      'scenario_id',
      'condition_id',
      'policy_name',
      'seed',
      'task_success',
      'approval_requested',
      'approval_granted',
    ]);
    const summary = JSON.parse(readFileSync(json!, 'utf8'));
    expect(Object.keys(summary)).toEqual([
      'no_oversight',
      'risk_based',
      'audit_plus_escalate',
      'always_review',
    ]);
    expect(summary.always_review.n_runs).toBe(20);
    const seedSummary = runner.getSummary();
    expect(seedSummary.total_trials).toBe(80);
    expect(seedSummary.conditions.always_review?.approval_rate).toBe(1);

    // The researcher's script, written for the seed's files and tables,
    // cross-checks results.csv, summary.json and telemetry.db: the runner
    // recorded every trial through the logger it was given.
    const out = execFileSync(PYTHON, [SCRIPT, 'results', dir], { encoding: 'utf8' });
    const analysis = JSON.parse(out) as { problems: string[]; telemetry?: Record<string, unknown> };
    expect(analysis.problems).toEqual([]);
    expect(Object.keys(analysis.telemetry ?? {}).sort()).toEqual(Object.keys(summary).sort());
    const check = execFileSync(PYTHON, [SCRIPT, 'telemetry', join(dir, 'telemetry.db')], {
      encoding: 'utf8',
    });
    const fromTelemetry = JSON.parse(check) as {
      conditions: Record<string, { n_runs: number }>;
      runs: Record<string, unknown>;
    };
    expect(Object.keys(fromTelemetry.runs)).toHaveLength(80);
    expect(fromTelemetry.conditions.risk_based?.n_runs).toBe(20);
  });

  it('the CLI takes the seed’s injection type names, and refuses one the scenario cannot plant with exit 2', () => {
    const dir = tmp();
    const ok = runHitloop([
      'experiment',
      '--scenario',
      'email_draft',
      '--n-trials',
      '3',
      '--injection-rate',
      '1',
      '--seed',
      '1',
      '--error-types',
      'WRONG_RECIPIENT,InjectionType.WRONG_AMOUNT',
      '--conditions',
      'risk_based',
      '--out',
      dir,
    ]);
    expect(ok.stderr).not.toMatch(/error|unknown/i);
    expect(ok.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.error_types).toEqual(['wrong_recipient', 'wrong_amount']);
    const bad = runHitloop([
      'experiment',
      '--scenario',
      'email_draft',
      '--error-types',
      'WRONG_RECIPIENT,WRONG_RECORD_ID',
      '--out',
      tmp(),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /--error-types: scenario email_draft cannot express wrong_record_id/,
    );
  });

  it('ExperimentRunner never runs silently without telemetry or a seed', () => {
    expect(() => new ExperimentRunner({} as never)).toThrow(
      /ExperimentRunner needs a seed .*new ExperimentRunner\(\{ seed: 42, logger \}\), or new ExperimentRunner\(logger\)/,
    );
    const runner = new ExperimentRunner(new TelemetryLogger(':memory:'));
    expect(runner.options.seed).toBe(42);
    expect(runner.options.logger).toBeInstanceOf(TelemetryLogger);
    runner.options.logger?.close();
    // ExperimentCondition(condition_id=..., policy=..., backend=...) says what to write.
    expect(() =>
      runner.addCondition({
        conditionId: 'x',
        policy: new AlwaysApprovePolicy(),
        backend: new AutoApproveBackend(),
      } as never),
    ).toThrow(
      /write name instead of conditionId; createPolicy: \(\) => policy instead of policy .*; createReviewer: \(\) => backend instead of backend/,
    );
    expect(() => new TelemetryLogger(undefined as never)).toThrow(
      /TelemetryLogger needs a database path: new TelemetryLogger\('telemetry.db'\)/,
    );
  });
});

function request(toolName: string): ApprovalRequest {
  return {
    runId: 'run-1',
    action: createAction({ toolName, toolArgs: { recipient: 'alice@example.com' } }),
    policyName: 'risk_based',
    policyReason: 'high risk',
    context: {},
    createdAt: new Date().toISOString(),
  };
}
