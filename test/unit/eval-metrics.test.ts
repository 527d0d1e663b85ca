import { describe, expect, it } from 'vitest';
import { mean } from '../../shared/eval/metrics.js';
import {
  bootstrapInterval,
  bootstrapQuantileInterval,
  MetricsCalculator,
  mulberry32,
  percentileNearestRank,
  type TrialRecord,
  wilsonInterval,
} from '../../shared/index.js';

/** A trial record with neutral defaults; each fixture row overrides what matters. */
function rec(index: number, over: Partial<TrialRecord>): TrialRecord {
  const executed = over.executed ?? true;
  const injected = over.injected ?? false;
  const completed = over.completed ?? false;
  return {
    trial_id: `c:${index}`,
    run_id: `exp:c:${index}`,
    condition: 'c',
    policy_name: 'p',
    scenario: 'email_draft',
    trial_index: index,
    task_id: `t${index}`,
    injected,
    error_type: injected ? 'wrong_recipient' : null,
    tool_name: 'send_email',
    risk_class: 'high',
    policy_verdict: over.approval_requested ? 'ask' : executed ? 'allow' : 'deny',
    policy_rule: null,
    approval_requested: false,
    approved: null,
    decided_by: over.approval_requested ? 'simulated:reviewer' : 'policy',
    human_latency_ms: null,
    executed,
    tool_failure: false,
    completed,
    task_success: injected ? !executed : completed,
    error_caught: injected && !executed,
    harm: injected && executed,
    validation_problems: '',
    ...over,
  };
}

// Ten trials, computed by hand (see the table in each expectation):
// #  injected asked approved latency executed tool_failure completed
// 0  no       no    -        -       yes      no           yes
// 1  no       no    -        -       yes      no           yes
// 2  no       yes   yes      1000    yes      no           yes
// 3  no       yes   no       3000    no       no           no    <- false reject
// 4  no       no    -        -       yes      yes          no    <- tool failure
// 5  no       yes   yes      2000    yes      no           yes
// 6  yes      yes   no       5000    no       no           no    <- caught by the reviewer
// 7  yes      no    -        -       yes      no           no    <- missed
// 8  yes      yes   yes      4000    yes      yes          no    <- missed, tool failed
// 9  yes      no (deny)      -       no       no           no    <- caught by the policy
const FIXTURE: TrialRecord[] = [
  rec(0, { completed: true }),
  rec(1, { completed: true }),
  rec(2, { approval_requested: true, approved: true, human_latency_ms: 1000, completed: true }),
  rec(3, { approval_requested: true, approved: false, human_latency_ms: 3000, executed: false }),
  rec(4, { tool_failure: true }),
  rec(5, { approval_requested: true, approved: true, human_latency_ms: 2000, completed: true }),
  rec(6, {
    injected: true,
    approval_requested: true,
    approved: false,
    human_latency_ms: 5000,
    executed: false,
  }),
  rec(7, { injected: true }),
  rec(8, {
    injected: true,
    approval_requested: true,
    approved: true,
    human_latency_ms: 4000,
    tool_failure: true,
  }),
  rec(9, { injected: true, executed: false }),
];

function expectInterval(actual: [number, number] | null, low: number, high: number): void {
  expect(actual).not.toBeNull();
  expect(actual![0]).toBeCloseTo(low, 5);
  expect(actual![1]).toBeCloseTo(high, 5);
}

describe('wilsonInterval', () => {
  it('matches hand-computed 95% intervals', () => {
    expectInterval(wilsonInterval(8, 10), 0.490162, 0.943318);
    expectInterval(wilsonInterval(0, 10), 0, 0.277533);
    expectInterval(wilsonInterval(10, 10), 0.722467, 1);
    expectInterval(wilsonInterval(1, 2), 0.094531, 0.905469);
    expectInterval(wilsonInterval(3, 4), 0.300642, 0.954413);
  });

  it('is undefined for n = 0 and stays inside [0, 1]', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
    for (let n = 1; n < 40; n++) {
      for (let k = 0; k <= n; k++) {
        const [lo, hi] = wilsonInterval(k, n)!;
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(1);
        expect(lo).toBeLessThanOrEqual(k / n);
        expect(hi).toBeGreaterThanOrEqual(k / n);
      }
    }
  });
});

describe('percentiles and means', () => {
  it('uses the nearest rank (the ceil(q*n)-th smallest)', () => {
    expect(percentileNearestRank([5, 1, 4, 2, 3], 0.95)).toBe(5);
    expect(percentileNearestRank([1, 2, 3, 4], 0.5)).toBe(2);
    // 20 values: ceil(0.95 * 20) = 19th smallest.
    expect(
      percentileNearestRank(
        Array.from({ length: 20 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(19);
    expect(percentileNearestRank([7], 0.95)).toBe(7);
    expect(percentileNearestRank([], 0.95)).toBeNull();
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNull();
  });
});

describe('MetricsCalculator on the hand-computed fixture', () => {
  const [m] = new MetricsCalculator({ seed: 1, resamples: 500 }).compute(FIXTURE);

  it('counts', () => {
    expect(m).toMatchObject({
      condition: 'c',
      n_trials: 10,
      n_injected: 4,
      n_correct: 6,
      n_approval_requests: 5,
      n_executed: 7,
      n_successes: 6,
      n_completed: 4,
      n_harm: 2,
    });
  });

  it('success_rate (the seed’s meaning) = right and done, or wrong and stopped / trials = 6/10 (#0, #1, #2, #5, #6, #9)', () => {
    expect(m!.success_rate).toMatchObject({ value: 0.6, successes: 6, n: 10 });
    expectInterval(m!.success_rate.interval, 0.312674, 0.83182);
  });

  it('completion_rate = side effects passed validation / trials = 4/10', () => {
    expect(m!.completion_rate).toMatchObject({ value: 0.4, successes: 4, n: 10 });
    expectInterval(m!.completion_rate.interval, 0.16818, 0.687326);
  });

  it('harm_rate = injected and executed / trials = 2/10 (#7, #8)', () => {
    expect(m!.harm_rate).toMatchObject({ value: 0.2, successes: 2, n: 10 });
    expectInterval(m!.harm_rate.interval, 0.056682, 0.509838);
  });

  it('per error type: asked about 2 of the 4 wrong recipients, caught 2, harm 2 of 10 trials', () => {
    expect(Object.keys(m!.by_error_type)).toEqual(['wrong_recipient']);
    const t = m!.by_error_type.wrong_recipient!;
    expect(t).toMatchObject({ n_injected: 4, n_approval_requests: 2, n_caught: 2, n_harm: 2 });
    expect(t.approval_rate).toMatchObject({ value: 0.5, n: 4 });
    expect(t.error_catch_rate).toMatchObject({ value: 0.5, n: 4 });
    expect(t.harm_rate).toMatchObject({ value: 0.2, successes: 2, n: 10 });
  });

  it('approval_rate = trials sent to a reviewer / trials = 5/10', () => {
    expect(m!.approval_rate).toMatchObject({ value: 0.5, successes: 5, n: 10 });
    expectInterval(m!.approval_rate.interval, 0.236593, 0.763407);
  });

  it('error_catch_rate = injected and not executed / injected = 2/4 (#6 rejected, #9 denied)', () => {
    expect(m!.error_catch_rate).toMatchObject({ value: 0.5, successes: 2, n: 4 });
    expectInterval(m!.error_catch_rate.interval, 0.150039, 0.849961);
  });

  it('false_reject_rate = correct and not executed / correct = 1/6 (#3)', () => {
    expect(m!.false_reject_rate).toMatchObject({ value: 1 / 6, successes: 1, n: 6 });
    expectInterval(m!.false_reject_rate.interval, 0.030053, 0.563503);
  });

  it('tool_failure_rate = executed and failed / executed = 2/7 (#4, #8)', () => {
    expect(m!.tool_failure_rate).toMatchObject({ value: 2 / 7, successes: 2, n: 7 });
    expectInterval(m!.tool_failure_rate.interval, 0.082219, 0.641066);
  });

  it('latency mean 3000 ms and nearest-rank p95 5000 ms over the 5 reviews', () => {
    expect(m!.human_latency_mean_ms.value).toBe(3000);
    expect(m!.human_latency_mean_ms.n).toBe(5);
    expect(m!.human_latency_p95_ms.value).toBe(5000);
  });

  it('reviewer_seconds_per_trial = total reviewer seconds / trials = 15 s / 10 = 1.5', () => {
    expect(m!.reviewer_seconds_per_trial.value).toBeCloseTo(1.5, 12);
    expect(m!.reviewer_seconds_per_trial.n).toBe(10);
  });

  it('bootstrap intervals bracket the estimates and stay inside the data range', () => {
    const mean = m!.human_latency_mean_ms.interval!;
    expect(mean[0]).toBeLessThanOrEqual(3000);
    expect(mean[1]).toBeGreaterThanOrEqual(3000);
    expect(mean[0]).toBeGreaterThanOrEqual(1000);
    expect(mean[1]).toBeLessThanOrEqual(5000);
    const p95 = m!.human_latency_p95_ms.interval!;
    expect(p95[1]).toBe(5000);
    expect(p95[0]).toBeGreaterThanOrEqual(1000);
  });

  it('undefined rates are null, not zero', () => {
    const [only] = new MetricsCalculator({ seed: 1 }).compute([rec(0, { completed: true })]);
    expect(only!.error_catch_rate.value).toBeNull();
    expect(only!.error_catch_rate.interval).toBeNull();
    expect(only!.human_latency_mean_ms.value).toBeNull();
    expect(only!.human_latency_p95_ms.interval).toBeNull();
    expect(only!.reviewer_seconds_per_trial.value).toBe(0);
    expect(only!.by_error_type).toEqual({});
  });

  it('keeps conditions apart, in first-seen order', () => {
    const other = FIXTURE.map((r) => ({ ...r, condition: 'b' }));
    const all = new MetricsCalculator({ seed: 1, resamples: 200 }).compute([...other, ...FIXTURE]);
    expect(all.map((x) => x.condition)).toEqual(['b', 'c']);
    expect(all[0]!.success_rate.value).toBe(0.6);
  });
});

describe('bootstrap', () => {
  const latencies = [900, 1200, 1500, 2200, 3100, 4000, 5200, 8000, 12000, 30000];

  it('is reproducible with the same seed and changes with another', () => {
    const a = new MetricsCalculator({ seed: 42, resamples: 1000 }).compute(
      latencies.map((l, i) =>
        rec(i, { approval_requested: true, approved: true, human_latency_ms: l }),
      ),
    );
    const b = new MetricsCalculator({ seed: 42, resamples: 1000 }).compute(
      latencies.map((l, i) =>
        rec(i, { approval_requested: true, approved: true, human_latency_ms: l }),
      ),
    );
    const c = new MetricsCalculator({ seed: 43, resamples: 1000 }).compute(
      latencies.map((l, i) =>
        rec(i, { approval_requested: true, approved: true, human_latency_ms: l }),
      ),
    );
    expect(a[0]!.human_latency_mean_ms.interval).toEqual(b[0]!.human_latency_mean_ms.interval);
    expect(a[0]!.human_latency_mean_ms.interval).not.toEqual(c[0]!.human_latency_mean_ms.interval);
  });

  it('collapses to the value for a constant sample', () => {
    expect(bootstrapInterval([5, 5, 5], (s) => s[0]!, 100, mulberry32(1))).toEqual([5, 5]);
    expect(bootstrapQuantileInterval([5, 5, 5], 0.95, 100, mulberry32(1))).toEqual([5, 5]);
    expect(bootstrapQuantileInterval([], 0.95, 100, mulberry32(1))).toBeNull();
  });

  it('the O(n) quantile bootstrap agrees with sorting every resample', () => {
    // Same generator seed, same draws: the histogram method must pick the same order statistic.
    const sorted = [...latencies].sort((x, y) => x - y);
    const fast = bootstrapQuantileInterval(sorted, 0.95, 2000, mulberry32(9));
    const slow = bootstrapInterval(
      sorted,
      (s) => percentileNearestRank(Array.from(s), 0.95)!,
      2000,
      mulberry32(9),
    );
    expect(fast).toEqual(slow);
  });
});
