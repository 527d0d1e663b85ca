import { describe, expect, it } from 'vitest';
import {
  type Action,
  type ApprovalRequest,
  createAction,
  EmailDraftScenario,
  type EmailTask,
  effectiveSensitivity,
  ReviewerConfig,
  SimulatedReviewer,
  withTaskBriefing,
} from '../../shared/index.js';

const scenario = new EmailDraftScenario();

function request(action: Action, task: EmailTask | undefined): ApprovalRequest {
  return {
    runId: 'r',
    action,
    policyName: 'always_review',
    policyReason: '',
    context: task ? { runId: 'session', task } : {},
    createdAt: new Date(0).toISOString(),
  };
}

/** N tasks with their correct action and one wrong action each (distinct ids). */
function workload(n: number): Array<{ task: EmailTask; right: Action; wrong: Action }> {
  return Array.from({ length: n }, (_, i) => {
    const task = scenario.createTask(`9|email_draft|task|${i}`);
    const kinds = scenario.errorTypesFor(task);
    return {
      task,
      right: scenario.generateAction(task),
      wrong: {
        ...scenario.generateAction(task, false, kinds[i % kinds.length], `w${i}`),
        id: `${task.id}:wrong`,
      },
    };
  });
}

const NO_FATIGUE = { decayPerApproval: 0, floor: 0.5 };

describe('SimulatedReviewer', () => {
  it('rejects wrong actions at the sensitivity and approves right ones at the specificity', async () => {
    const reviewer = new SimulatedReviewer(scenario, {
      sensitivity: 0.8,
      specificity: 0.9,
      fatigue: NO_FATIGUE,
      seed: 1,
    });
    let rejectedWrong = 0;
    let approvedRight = 0;
    const items = workload(3000);
    for (const { task, right, wrong } of items) {
      if (!(await reviewer.requestApproval(request(wrong, task))).approved) rejectedWrong++;
      if ((await reviewer.requestApproval(request(right, task))).approved) approvedRight++;
    }
    expect(rejectedWrong / items.length).toBeGreaterThan(0.77);
    expect(rejectedWrong / items.length).toBeLessThan(0.83);
    expect(approvedRight / items.length).toBeGreaterThan(0.88);
    expect(approvedRight / items.length).toBeLessThan(0.92);
  });

  it('decides from the action it is shown: a hand-made wrong action is rejected, its fix approved', async () => {
    const reviewer = new SimulatedReviewer(scenario, { sensitivity: 1, specificity: 1, seed: 2 });
    const task = scenario.createTask('2|email_draft|task|0');
    // Built by hand, not by the injector: there is no label anywhere to read.
    const handMade = createAction({
      id: 'hand-1',
      toolName: task.mode === 'send' ? 'send_email' : 'save_draft',
      toolArgs: { to: 'someone.else@acme.example', subject: task.subject, body: task.body },
    });
    const decision = await reviewer.requestApproval(request(handMade, task));
    expect(decision.approved).toBe(false);
    expect(decision.reason).toMatch(/recipient/);
    const fixed = createAction({ ...handMade, toolArgs: { ...handMade.toolArgs, to: task.to } });
    expect((await reviewer.requestApproval(request(fixed, task))).approved).toBe(true);
  });

  it('is deterministic per seed and action, and differs across seeds', async () => {
    const items = workload(200);
    const run = async (seed: number) => {
      const r = new SimulatedReviewer(scenario, { seed, fatigue: NO_FATIGUE });
      const out: string[] = [];
      for (const { task, wrong } of items) {
        const d = await r.requestApproval(request(wrong, task));
        out.push(`${d.approved}:${d.latencyMs}`);
      }
      return out.join(',');
    };
    expect(await run(5)).toBe(await run(5));
    expect(await run(5)).not.toBe(await run(6));
  });

  it('records a lognormal latency without waiting for it', async () => {
    const reviewer = new SimulatedReviewer(scenario, {
      latency: { medianMs: 8000, sigma: 0.6 },
      seed: 3,
    });
    const started = performance.now();
    const latencies: number[] = [];
    for (const { task, right } of workload(2000)) {
      latencies.push((await reviewer.requestApproval(request(right, task))).latencyMs!);
    }
    expect(performance.now() - started).toBeLessThan(5000);
    latencies.sort((a, b) => a - b);
    const median = latencies[1000]!;
    expect(median).toBeGreaterThan(7400);
    expect(median).toBeLessThan(8600);
    // log-latency spread: the 84th percentile is about median * e^sigma.
    expect(latencies[1681]! / median).toBeGreaterThan(1.6);
    expect(latencies[1681]! / median).toBeLessThan(2.05);
    expect(latencies.every((l) => Number.isInteger(l) && l >= 1)).toBe(true);
  });

  it('sigma 0 gives exactly the median', async () => {
    const reviewer = new SimulatedReviewer(scenario, { latency: { medianMs: 1234, sigma: 0 } });
    const { task, right } = workload(1)[0]!;
    expect((await reviewer.requestApproval(request(right, task))).latencyMs).toBe(1234);
  });

  it('fatigue: sensitivity decays over a streak of approvals and recovers after a rejection', async () => {
    expect(effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.5 }, 0)).toBeCloseTo(0.9);
    expect(effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.5 }, 1)).toBeCloseTo(0.86);
    expect(effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.5 }, 2)).toBeCloseTo(0.824);
    expect(effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.5 }, 500)).toBeCloseTo(0.5);
    // A floor above the sensitivity never makes the reviewer better.
    expect(effectiveSensitivity(0.3, { decayPerApproval: 0.1, floor: 0.5 }, 10)).toBeCloseTo(0.3);

    const reviewer = new SimulatedReviewer(scenario, {
      sensitivity: 0.9,
      specificity: 1,
      fatigue: { decayPerApproval: 0.1, floor: 0.2 },
      seed: 4,
    });
    const items = workload(30);
    for (const { task, right } of items.slice(0, 25))
      await reviewer.requestApproval(request(right, task));
    expect(reviewer.approvalStreak).toBe(25);
    const { task, wrong } = items[25]!;
    await reviewer.requestApproval(request(wrong, task));
    expect(reviewer.lastOutcome!.sensitivity).toBeCloseTo(
      effectiveSensitivity(0.9, { decayPerApproval: 0.1, floor: 0.2 }, 25),
    );
    reviewer.replayDecision(false);
    expect(reviewer.approvalStreak).toBe(0);
    reviewer.replayDecision(true);
    reviewer.replayDecision(false, 'simulated:timeout'); // a timeout is not a judgement
    expect(reviewer.approvalStreak).toBe(1);
  });

  it('fatigue lowers the realised catch rate over long approval streaks', async () => {
    const items = workload(4000);
    const catchRate = async (decay: number) => {
      const r = new SimulatedReviewer(scenario, {
        sensitivity: 0.9,
        specificity: 1,
        fatigue: { decayPerApproval: decay, floor: 0.3 },
        seed: 8,
      });
      let caught = 0;
      let wrongCount = 0;
      for (const [i, { task, right, wrong }] of items.entries()) {
        // One wrong action in ten, as an experiment would see.
        const action = i % 10 === 0 ? wrong : right;
        const d = await r.requestApproval(request(action, task));
        if (i % 10 === 0) {
          wrongCount++;
          if (!d.approved) caught++;
        }
      }
      return caught / wrongCount;
    };
    const rested = await catchRate(0);
    const tired = await catchRate(0.1);
    expect(rested).toBeGreaterThan(0.85);
    expect(tired).toBeLessThan(rested - 0.1);
  });

  it('a review slower than the timeout is a timeout, not a rejection', async () => {
    const reviewer = new SimulatedReviewer(scenario, { latency: { medianMs: 5000, sigma: 0 } });
    const { task, right } = workload(1)[0]!;
    const d = await reviewer.requestApproval(request(right, task), { timeoutMs: 1000 });
    expect(d).toMatchObject({ approved: false, decidedBy: 'simulated:timeout', latencyMs: 1000 });
    expect(reviewer.approvalStreak).toBe(0);
  });

  it('realtime sleeps for the latency and honours abort', async () => {
    const reviewer = new SimulatedReviewer(scenario, {
      latency: { medianMs: 60, sigma: 0 },
      realtime: true,
    });
    const { task, right } = workload(1)[0]!;
    const started = performance.now();
    const d = await reviewer.requestApproval(request(right, task));
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(d.latencyMs).toBe(60);
    const controller = new AbortController();
    const pending = reviewer.requestApproval(request(right, task), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses a request without the task: it cannot judge an action blind', async () => {
    const reviewer = new SimulatedReviewer(scenario);
    const { right } = workload(1)[0]!;
    await expect(reviewer.requestApproval(request(right, undefined))).rejects.toThrow(
      /context\.task/,
    );
  });

  it('validates its parameters', () => {
    expect(() => ReviewerConfig.parse({ sensitivity: 1.2 })).toThrow();
    expect(ReviewerConfig.parse({})).toMatchObject({
      sensitivity: 0.9,
      specificity: 0.95,
      latency: { medianMs: 8000, sigma: 0.6 },
      fatigue: { decayPerApproval: 0.02, floor: 0.5 },
    });
  });
});

describe('withTaskBriefing (live channels)', () => {
  it('shows the person the task before delegating to the live channel', async () => {
    const lines: string[] = [];
    const { task, right } = workload(1)[0]!;
    const inner = new SimulatedReviewer(scenario, { specificity: 1 });
    const live = withTaskBriefing(inner, (t) => lines.push(t));
    const d = await live.requestApproval(request(right, task));
    expect(d.approved).toBe(true);
    expect(lines.join('')).toContain(task.description);
  });
});
