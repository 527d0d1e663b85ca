import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AlwaysReviewPolicy,
  createProgressReporter,
  createScenario,
  createStandardConditions,
  ExperimentRunner,
  JournalMismatchError,
  RESULTS_COLUMNS,
  readSummary,
  runExperiment,
  STANDARD_CONDITIONS,
  TelemetryLogger,
  TrialJournal,
  type TrialRecord,
  toResultsCsv,
} from '../../shared/index.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { trialRecord } from '../helpers/trial-record.js';

const tmp = () => makeTempDir('hitloop-eval-');

describe('createStandardConditions', () => {
  it("builds the seed's four conditions, from no oversight to review of every action", () => {
    const scenario = createScenario('record_update');
    const conditions = createStandardConditions(scenario, 50, 0.2, { seed: 9 });
    expect(conditions.map((c) => c.name)).toEqual([...STANDARD_CONDITIONS]);
    expect(conditions.map((c) => c.createPolicy().name)).toEqual([
      'always_approve',
      'risk_based',
      'audit_plus_escalate',
      'always_review',
    ]);
    for (const c of conditions) {
      expect(c.nTrials).toBe(50);
      expect(c.injection).toEqual({ rate: 0.2, seed: 9 });
      expect(c.scenario).toBe(scenario);
    }
    expect(new AlwaysReviewPolicy().evaluate().verdict).toBe('ask');
    expect(
      createStandardConditions(scenario, 5, 0, { only: ['always_review', 'no_oversight'] }).map(
        (c) => c.name,
      ),
    ).toEqual(['always_review', 'no_oversight']);
  });
});

describe('ExperimentRunner', () => {
  it('runs every condition on the same tasks with the same mistakes (paired design)', async () => {
    const scenario = createScenario('email_draft');
    const { records, interrupted } = await new ExperimentRunner({ seed: 3 }).run(
      createStandardConditions(scenario, 60, 0.25, { seed: 3 }),
    );
    expect(interrupted).toBe(false);
    expect(records).toHaveLength(240);
    const byCondition = (name: string) => records.filter((r) => r.condition === name);
    const base = byCondition('no_oversight');
    for (const name of STANDARD_CONDITIONS) {
      const rows = byCondition(name);
      expect(rows.map((r) => [r.task_id, r.injected, r.error_type, r.tool_name])).toEqual(
        base.map((r) => [r.task_id, r.injected, r.error_type, r.tool_name]),
      );
    }
    // No oversight: nobody asked, everything ran, every planted mistake ran too.
    expect(
      base.every((r) => !r.approval_requested && r.executed && r.decided_by === 'policy'),
    ).toBe(true);
    expect(
      base.filter((r) => r.injected).every((r) => !r.task_success && !r.error_caught && r.harm),
    ).toBe(true);
    expect(base.filter((r) => !r.injected).every((r) => r.task_success && r.completed)).toBe(true);
    // Always review: a reviewer saw every action; what they rejected did not run.
    const review = byCondition('always_review');
    expect(review.every((r) => r.approval_requested && r.decided_by === 'simulated:reviewer')).toBe(
      true,
    );
    expect(review.every((r) => r.executed === r.approved)).toBe(true);
    expect(review.every((r) => r.human_latency_ms !== null && r.human_latency_ms > 0)).toBe(true);
    // The record joins in the truth only after the fact.
    for (const r of records) {
      expect(r.error_caught).toBe(r.injected && !r.executed);
      expect(r.harm).toBe(r.injected && r.executed);
      expect(r.completed).toBe(r.validation_problems === '');
      // The seed's task_success: a stopped mistake counts as a success.
      expect(r.task_success).toBe(r.injected ? !r.executed : r.completed);
    }
  });

  it('treats each condition as one session: the audit policy escalates long unreviewed streaks', async () => {
    const scenario = createScenario('record_update');
    const [audit] = createStandardConditions(scenario, 200, 0, {
      seed: 1,
      auditSampleRate: 0,
      only: ['audit_plus_escalate'],
    });
    const { records } = await new ExperimentRunner({ seed: 1 }).run([audit!]);
    expect(records.some((r) => r.policy_rule === 'consecutive_actions')).toBe(true);
  });

  it('refuses duplicate condition names', async () => {
    const scenario = createScenario('email_draft');
    const [a] = createStandardConditions(scenario, 1, 0);
    await expect(new ExperimentRunner({ seed: 1 }).run([a!, a!])).rejects.toThrow(/duplicate/);
  });
});

describe('runExperiment: outputs, reproducibility, resume', () => {
  const config = { scenario: 'coding' as const, nTrials: 40, injectionRate: 0.3, seed: 12 };

  it('writes results.csv with the documented columns and a summary.json that reads back', async () => {
    const out = tmp();
    const outcome = await runExperiment(config, { outDir: out });
    const csv = readFileSync(join(out, 'results.csv'), 'utf8');
    const [header, ...rows] = csv.trimEnd().split('\r\n');
    expect(header).toBe(RESULTS_COLUMNS.join(','));
    expect(
      header!.startsWith(
        'run_id,scenario_id,condition_id,policy_name,seed,task_success,approval_requested,approval_granted,human_latency_ms,time_to_complete_ms,injected_error,error_caught,tool_failure,tokens_used,llm_calls,',
      ),
    ).toBe(true);
    // summary.json is keyed by condition id; the settings are in manifest.json.
    const file = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(Object.keys(file)).toEqual([...STANDARD_CONDITIONS]);
    expect(Object.keys(file.risk_based).slice(0, 12)).toEqual([
      'policy_name',
      'n_runs',
      'success_rate',
      'approval_rate',
      'human_latency_mean_ms',
      'human_latency_p95_ms',
      'time_to_complete_mean_ms',
      'time_to_complete_p95_ms',
      'error_catch_rate',
      'false_reject_rate',
      'tool_failure_rate',
      'cost_proxy',
    ]);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 'hitloop-experiment-manifest/1',
      seed: 12,
      n_trials: 40,
    });
    expect(rows).toHaveLength(160);
    const summary = readSummary(out);
    expect(summary.condition_order).toEqual([...STANDARD_CONDITIONS]);
    expect(summary).toEqual(outcome.summary);
    const review = summary.conditions.always_review!;
    expect(review.approval_rate).toBe(1);
    expect(review.intervals.approval_rate).toMatchObject({
      method: 'wilson',
      n: 40,
      successes: 40,
    });
    expect(review.intervals.human_latency_mean_ms).toMatchObject({
      method: 'bootstrap_percentile',
      n: 40,
    });
    expect(summary.conditions.no_oversight!.human_latency_mean_ms).toBeNull();
  });

  it('gives byte-identical results for the same seed, and different ones for another seed', async () => {
    const [a, b, c] = [tmp(), tmp(), tmp()];
    await runExperiment(config, { outDir: a });
    await runExperiment(config, { outDir: b, telemetry: false });
    await runExperiment({ ...config, seed: 13 }, { outDir: c });
    const read = (dir: string, f: string) => readFileSync(join(dir, f));
    expect(read(a, 'results.csv').equals(read(b, 'results.csv'))).toBe(true);
    expect(read(a, 'summary.json').equals(read(b, 'summary.json'))).toBe(true);
    expect(read(a, 'manifest.json').equals(read(b, 'manifest.json'))).toBe(true);
    expect(read(a, 'results.csv').equals(read(c, 'results.csv'))).toBe(false);
  });

  it('resumes an interrupted run to exactly the uninterrupted results', async () => {
    const whole = tmp();
    await runExperiment(config, { outDir: whole });
    const cut = tmp();
    const controller = new AbortController();
    const first = await runExperiment(config, {
      outDir: cut,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 70) controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.summary).toBeNull();
    expect(first.records).toHaveLength(70);
    // A kill mid-write leaves a partial last line; it must be dropped, not trusted.
    appendFileSync(join(cut, 'journal.jsonl'), '{"trial_id":"always_rev');
    const second = await runExperiment(config, { outDir: cut });
    expect(second.interrupted).toBe(false);
    expect(second.resumed).toBe(70);
    expect(
      readFileSync(join(cut, 'results.csv')).equals(readFileSync(join(whole, 'results.csv'))),
    ).toBe(true);
    expect(
      readFileSync(join(cut, 'summary.json')).equals(readFileSync(join(whole, 'summary.json'))),
    ).toBe(true);
    // Telemetry holds each trial once, whichever process ran it.
    const db = openSqlite(join(cut, 'telemetry.db'), { readonly: true });
    const runs = db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number };
    const starts = db
      .prepare("SELECT count(*) AS n FROM trace_events WHERE event_type = 'run_start'")
      .get() as { n: number };
    db.close();
    expect(runs.n).toBe(160);
    expect(starts.n).toBe(160);
  });

  it('refuses to resume a journal written with other settings, unless told to start fresh', async () => {
    const out = tmp();
    await runExperiment({ ...config, nTrials: 5 }, { outDir: out });
    await expect(runExperiment({ ...config, nTrials: 6 }, { outDir: out })).rejects.toBeInstanceOf(
      JournalMismatchError,
    );
    const fresh = await runExperiment({ ...config, nTrials: 6 }, { outDir: out, fresh: true });
    expect(fresh.resumed).toBe(0);
    expect(fresh.records).toHaveLength(24);
  });

  it('a rerun of a finished experiment resumes every trial and rewrites the same files', async () => {
    const out = tmp();
    await runExperiment({ ...config, nTrials: 10 }, { outDir: out });
    const before = readFileSync(join(out, 'results.csv'));
    const again = await runExperiment({ ...config, nTrials: 10 }, { outDir: out });
    expect(again.resumed).toBe(40);
    expect(readFileSync(join(out, 'results.csv')).equals(before)).toBe(true);
  });

  it('detects a journal whose verdicts the policy no longer gives', async () => {
    const out = tmp();
    await runExperiment({ ...config, nTrials: 5 }, { outDir: out });
    const path = join(out, 'journal.jsonl');
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const record = JSON.parse(lines[1]!) as TrialRecord;
    lines[1] = JSON.stringify({ ...record, policy_verdict: 'deny' });
    writeFileSync(path, `${lines.join('\n')}\n`);
    await expect(runExperiment({ ...config, nTrials: 5 }, { outDir: out })).rejects.toThrow(
      /cannot resume/,
    );
  });

  it('the journal refuses damage in the middle', () => {
    const dir = tmp();
    const path = join(dir, 'journal.jsonl');
    TrialJournal.open(path, 'fp', {}).close();
    appendFileSync(path, 'not json\n{"also":"bad"}\n');
    expect(() => TrialJournal.open(path, 'fp', {})).toThrow(/damaged/);
  });

  it('telemetry records every trial as a run with the seed event types', async () => {
    const logger = new TelemetryLogger({ dbPath: ':memory:', flushIntervalMs: 0 });
    const scenario = createScenario('email_draft');
    await new ExperimentRunner({ seed: 2, logger }).run(
      createStandardConditions(scenario, 10, 0.5, { seed: 2, only: ['always_review'] }),
    );
    const types = logger.database
      .prepare('SELECT DISTINCT event_type FROM trace_events ORDER BY 1')
      .all()
      .map((r) => (r as { event_type: string }).event_type);
    expect(types).toEqual(
      expect.arrayContaining([
        'run_start',
        'action_proposed',
        'approval_requested',
        'approval_decided',
        'run_end',
        'injected_error',
      ]),
    );
    expect(logger.getRunsByCondition('always_review')).toHaveLength(10);
    logger.close();
  });
});

describe('results.csv format', () => {
  it('quotes text with commas, quotes or newlines and leaves nulls empty', () => {
    const record = trialRecord({
      trial_id: 'c:t1',
      run_id: 'exp-1:c:t1',
      policy_name: 'always_approve',
      task_id: 't1',
      injected: true,
      error_type: 'wrong_amount',
      completed: false,
      task_success: false,
      harm: true,
      validation_problems: 'body is "wrong", subject too\nline two',
    });
    const csv = toResultsCsv([record], { seed: 42 });
    // As Python's csv module writes it: 0/1, floats as 0.0, \r\n line ends,
    // quotes only where needed (a line break inside a field stays as is).
    expect(csv.split('\r\n')[1]).toBe(
      'exp-1:c:t1,email_draft,c,always_approve,42,0,0,1,0.0,0.0,1,0,0,0,0,c:t1,0,t1,wrong_amount,send_email,high,allow,,,policy,1,0,1,"body is ""wrong"", subject too\nline two"',
    );
    expect(csv.endsWith('line two"\r\n')).toBe(true);
  });
});

describe('createProgressReporter', () => {
  const step = (done: number, resumed = 0) => ({
    condition: 'risk_based',
    done,
    total: 400,
    resumed,
  });

  it('on a TTY redraws one bar in place and ends its line', () => {
    let out = '';
    let now = 0;
    const p = createProgressReporter(
      { write: (t: string) => (out += t), isTTY: true, columns: 100 },
      { now: () => now },
    );
    for (let i = 1; i <= 400; i++) {
      now += 1;
      p.update(step(i, 100));
    }
    p.finish();
    expect(out).toContain('\r\x1b[2K[');
    expect(out).toContain('100% 400/400 risk_based (100 resumed)');
    expect(out.endsWith('\n')).toBe(true);
    expect(out.split('\n')).toHaveLength(2);
    // Throttled: 400 updates 1 ms apart give about 4 redraws (every 100 ms) plus the last.
    expect(out.split('\r').length - 1).toBeLessThan(10);
  });

  it('elsewhere prints a plain line at each quarter', () => {
    const lines: string[] = [];
    const p = createProgressReporter(
      { write: (t: string) => lines.push(t), isTTY: false },
      { now: () => 0 },
    );
    for (let i = 1; i <= 400; i++) p.update(step(i));
    p.finish();
    expect(lines).toEqual([
      'hitloop: 1/400 trials (0%), condition risk_based\n',
      'hitloop: 100/400 trials (25%), condition risk_based\n',
      'hitloop: 200/400 trials (50%), condition risk_based\n',
      'hitloop: 300/400 trials (75%), condition risk_based\n',
      'hitloop: 400/400 trials (100%), condition risk_based\n',
    ]);
  });
});
