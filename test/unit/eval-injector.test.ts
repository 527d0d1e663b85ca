import { describe, expect, it } from 'vitest';
import {
  type Action,
  type ApprovalBackend,
  type ApprovalRequest,
  createScenario,
  createStandardConditions,
  type Decision,
  EmailDraftScenario,
  ErrorInjector,
  ErrorType,
  type ExperimentCondition,
  ExperimentRunner,
  type HITLPolicy,
  type PolicyContext,
  type PolicyDecision,
  ScenarioName,
  TelemetryLogger,
} from '../../shared/index.js';

// Anything that could carry the ground truth: every kind's name, and the
// words an implementation would use to label it.
const LABELS = [...ErrorType.options, 'inject', 'truth', 'error_type', 'errorType', 'label'];

function findLabels(value: unknown): string[] {
  const text = JSON.stringify(value).toLowerCase();
  return LABELS.filter((l) => text.includes(l.toLowerCase()));
}

/**
 * A policy that tries to cheat: it scans the action and the context for any
 * injection label and would ask a human only when it finds one.
 */
class LabelSnoopingPolicy implements HITLPolicy {
  readonly name = 'snooper';
  readonly found: string[] = [];
  calls = 0;
  evaluate(action: Action, context?: PolicyContext): PolicyDecision {
    this.calls++;
    const hits = findLabels({ action, context });
    this.found.push(...hits);
    // Also look at every own property, in case something hid the label in a
    // non-enumerable or symbol-keyed slot.
    for (const target of [action, context ?? {}]) {
      for (const key of Reflect.ownKeys(target)) {
        const k = String(key).toLowerCase();
        if (LABELS.some((l) => k.includes(l.toLowerCase()))) this.found.push(String(key));
      }
    }
    return hits.length
      ? { verdict: 'deny', reason: 'saw a label' }
      : { verdict: 'ask', reason: 'review' };
  }
}

/** A reviewer that scans everything it is sent, then approves. */
class LabelSnoopingReviewer implements ApprovalBackend {
  readonly name = 'snooper';
  readonly found: string[] = [];
  calls = 0;
  async requestApproval(request: ApprovalRequest): Promise<Decision> {
    this.calls++;
    this.found.push(...findLabels(request));
    return {
      actionId: request.action.id,
      approved: true,
      reason: '',
      decidedBy: 'snoop:reviewer',
      latencyMs: 1,
      tags: [],
    };
  }
}

describe('ErrorInjector', () => {
  const scenario = new EmailDraftScenario();

  it('injects at the configured rate, reproducibly, keyed by trial index', () => {
    const injector = new ErrorInjector(scenario, { rate: 0.3, seed: 5 });
    const plans = Array.from({ length: 4000 }, (_, i) =>
      injector.plan(scenario.createTask(`5|email_draft|task|${i}`), i),
    );
    const rate = plans.filter((p) => p !== null).length / plans.length;
    expect(rate).toBeGreaterThan(0.27);
    expect(rate).toBeLessThan(0.33);
    // Every supported kind appears.
    expect(new Set(plans.filter(Boolean))).toEqual(new Set(scenario.errorTypes));
    // Trial 123's plan does not depend on what ran before it.
    const fresh = new ErrorInjector(scenario, { rate: 0.3, seed: 5 });
    expect(fresh.plan(scenario.createTask('5|email_draft|task|123'), 123)).toBe(plans[123]);
  });

  it('rate 0 injects nothing, rate 1 everything; types restrict the kinds', () => {
    const none = new ErrorInjector(scenario, { rate: 0, seed: 1 });
    const all = new ErrorInjector(scenario, { rate: 1, seed: 1, types: ['wrong_amount'] });
    for (let i = 0; i < 200; i++) {
      const task = scenario.createTask(`1|email_draft|task|${i}`);
      expect(none.prepare(task, i).truth).toEqual({ injected: false, errorType: null });
      expect(all.prepare(task, i).truth).toEqual({ injected: true, errorType: 'wrong_amount' });
    }
  });

  it('refuses kinds the scenario cannot express', () => {
    expect(
      () => new ErrorInjector(scenario, { rate: 0.2, seed: 1, types: ['wrong_path'] }),
    ).toThrow(/cannot express wrong_path/);
  });

  it('returns the truth beside the action, never inside it', () => {
    const injector = new ErrorInjector(scenario, { rate: 1, seed: 3 });
    for (let i = 0; i < 300; i++) {
      const task = scenario.createTask(`3|email_draft|task|${i}`);
      const { action, truth } = injector.prepare(task, i);
      const correct = scenario.generateAction(task);
      expect(truth.injected).toBe(true);
      expect(findLabels(action)).toEqual([]);
      // Same id, same rationale, same shape of object: nothing marks it.
      expect(action.id).toBe(correct.id);
      expect(action.rationale).toBe(correct.rationale);
      expect(Object.keys(action).sort()).toEqual(Object.keys(correct).sort());
    }
  });
});

describe('no leak: policies and reviewers never see the ground truth', () => {
  it.each(ScenarioName.options.map((s) => [s]))(
    '%s: a policy and a reviewer that scan everything they receive find no label',
    async (name) => {
      const scenario = createScenario(name);
      const policy = new LabelSnoopingPolicy();
      const reviewer = new LabelSnoopingReviewer();
      const condition: ExperimentCondition = {
        name: 'snoop',
        description: 'tries to read the truth',
        scenario,
        nTrials: 150,
        injection: { rate: 0.6, seed: 11 },
        createPolicy: () => policy,
        createReviewer: () => reviewer,
      };
      const { records } = await new ExperimentRunner({ seed: 11 }).run([condition]);
      expect(records.filter((r) => r.injected).length).toBeGreaterThan(60);
      expect(policy.calls).toBe(150);
      expect(reviewer.calls).toBe(150);
      expect(policy.found).toEqual([]);
      expect(reviewer.found).toEqual([]);
      // Had it found a label it would have denied; it never did.
      expect(records.every((r) => r.policy_verdict === 'ask')).toBe(true);
    },
  );

  it('injected and correct trials look alike to a policy except for the mistake itself', async () => {
    const scenario = createScenario('record_update');
    const seen: Array<{ keys: string[]; contextKeys: string[] }> = [];
    const policy: HITLPolicy = {
      name: 'recorder',
      evaluate(action, context) {
        seen.push({
          keys: Object.keys(action).sort(),
          contextKeys: Object.keys(context ?? {}).sort(),
        });
        return { verdict: 'allow', reason: '' };
      },
    };
    await new ExperimentRunner({ seed: 2 }).run([
      {
        name: 'x',
        description: '',
        scenario,
        nTrials: 60,
        injection: { rate: 0.5, seed: 2 },
        createPolicy: () => policy,
      },
    ]);
    expect(new Set(seen.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(seen[0]!.contextKeys).toEqual(['runId', 'task']);
  });

  it('telemetry gets the injected_error event only after the run has ended', async () => {
    const logger = new TelemetryLogger({ dbPath: ':memory:', flushIntervalMs: 0 });
    const scenario = createScenario('email_draft');
    const conditions = createStandardConditions(scenario, 40, 0.5, {
      seed: 4,
      only: ['always_review'],
    });
    const { records } = await new ExperimentRunner({ seed: 4, logger }).run(conditions);
    const rows = logger.database
      .prepare('SELECT run_id, event_type FROM trace_events ORDER BY id')
      .all() as Array<{ run_id: string; event_type: string }>;
    const injectedRuns = records.filter((r) => r.injected).map((r) => `always_review:${r.task_id}`);
    expect(injectedRuns.length).toBeGreaterThan(10);
    for (const runId of injectedRuns) {
      const types = rows.filter((r) => r.run_id === runId).map((r) => r.event_type);
      expect(types).toContain('approval_decided');
      // Nothing of the trial's decision path comes after the truth.
      expect(types.at(-1)).toBe('injected_error');
      expect(types.at(-2)).toBe('run_end');
    }
    const correctRun = records.find((r) => !r.injected)!;
    expect(
      rows
        .filter((r) => r.run_id === `always_review:${correctRun.task_id}`)
        .map((r) => r.event_type),
    ).not.toContain('injected_error');
    logger.close();
  });
});
