import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExperiment } from '../../shared/eval/experiment.js';
import { aggregateSweep } from '../../shared/eval/sweep/aggregate.js';
import {
  parseSweepGrid,
  readGridFile,
  SweepGrid,
  sweepCells,
  sweepTrialCount,
  sweepUnits,
  unitKey,
} from '../../shared/eval/sweep/grid.js';
import { runSweepToDir } from '../../shared/eval/sweep/sweep.js';
import { SWEEP_COLUMNS, toSweepCsv } from '../../shared/eval/sweep/sweep-csv.js';
import { runUnit, toUnitResult } from '../../shared/eval/sweep/sweep-runner.js';
import type { UnitResult } from '../../shared/eval/sweep/unit-result.js';
import type { TrialRecord } from '../../shared/eval/trial-record.js';
import { configError } from '../helpers/config-error.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { trialRecord } from '../helpers/trial-record.js';

const tmp = () => makeTempDir('hitloop-sweep-unit-');

describe('sweep grid', () => {
  it('defaults to the benchmark grid: 3 rates x 3 sensitivities x 4 conditions x 3 seeds x 200 trials', () => {
    const grid = SweepGrid.parse({});
    expect(sweepCells(grid)).toHaveLength(9);
    expect(sweepUnits(grid)).toHaveLength(27);
    expect(sweepTrialCount(grid)).toBe(21_600);
    expect(grid.conditions).toEqual([
      'no_oversight',
      'risk_based',
      'audit_plus_escalate',
      'always_review',
    ]);
  });

  it('orders cells scenario, rate, sensitivity, specificity, fatigue; takes single values and condition sets', () => {
    const grid = parseSweepGrid({
      scenarios: ['coding', 'email_draft'],
      injectionRates: [0.3, 0.1],
      sensitivities: 0.8,
      fatigues: [0, 0.05],
      conditions: 'seed',
    });
    expect(grid.conditions).toEqual([
      'always_approve',
      'risk_based_auto',
      'risk_based_human',
      'audit_escalate',
    ]);
    expect(grid.sensitivities).toEqual([0.8]);
    const cells = sweepCells(grid);
    expect(cells).toHaveLength(8);
    expect(cells.slice(0, 3).map((c) => [c.scenario, c.injectionRate, c.fatigue])).toEqual([
      ['coding', 0.3, 0],
      ['coding', 0.3, 0.05],
      ['coding', 0.1, 0],
    ]);
    expect(
      parseSweepGrid({ conditions: ['standard', 'risk_based_human'] }).conditions,
    ).toHaveLength(5);
  });

  it('a bad grid file names the file, the field and a fix', () => {
    const dir = tmp();
    const file = join(dir, 'grid.json');
    writeFileSync(file, JSON.stringify({ injectionRates: [0.1, 1.5], seeds: [1] }));
    const err = configError(() => parseSweepGrid(readGridFile(file), { file }));
    expect(err.message).toContain(file);
    expect(err.field).toBe('injectionRates[1]');
    expect(err.message).toMatch(/1/);

    const dup = configError(() => parseSweepGrid({ seeds: [1, 2, 1] }, { file }));
    expect(dup.field).toBe('seeds[2]');
    expect(dup.problem).toMatch(/twice/);

    const unknown = configError(() => parseSweepGrid({ sensitivity: [0.9] }, { file }));
    expect(unknown.fix).toMatch(/sensitivity/);

    const cond = configError(() =>
      parseSweepGrid({ conditions: ['risk_based', 'nobody'] }, { file }),
    );
    expect(cond.field).toBe('conditions[1]');
    expect(cond.fix).toContain('always_review');

    const toml = join(dir, 'grid.toml');
    writeFileSync(toml, 'injectionRates = [0.1, 0.2]\nseeds = [1, 2]\nnTrials = 30\n');
    expect(parseSweepGrid(readGridFile(toml)).nTrials).toBe(30);
    writeFileSync(toml, 'injectionRates = [0.1,\n');
    expect(configError(() => readGridFile(toml)).message).toMatch(/not valid TOML/);

    const yaml = join(dir, 'grid.yaml');
    writeFileSync(yaml, 'seeds: [1]\n');
    expect(configError(() => readGridFile(yaml)).fix).toMatch(/JSON|TOML/);
    expect(configError(() => readGridFile(join(dir, 'missing.json'))).problem).toBe('not found');
  });

  it('a bad value from a flag names the flag; a mistake a scenario cannot plant names the scenario', () => {
    const err = configError(() =>
      parseSweepGrid({ sensitivities: [0.5, 2] }, { flags: { sensitivities: '--sensitivities' } }),
    );
    expect(err.field).toBe('--sensitivities');
    expect(err.fix).toContain('--sensitivities 0.6');
    const types = configError(() =>
      parseSweepGrid({ scenarios: ['email_draft'], errorTypes: ['destructive_command'] }),
    );
    expect(types.problem).toContain('email_draft cannot plant destructive_command');
    expect(types.problem).toContain('it supports');
    expect(
      configError(() =>
        parseSweepGrid({ nTrials: 100_000, seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }),
      ).problem,
    ).toMatch(/more than 10,000,000/);
  });
});

/** A unit built by hand: outcomes as bit strings. */
function unit(
  seed: number,
  injected: string,
  conditions: Array<[string, string, string]>,
): UnitResult {
  const cell = {
    scenario: 'email_draft' as const,
    injectionRate: 0.5,
    sensitivity: 0.9,
    specificity: 0.95,
    fatigue: 0,
  };
  return {
    key: unitKey({ ...cell, seed }),
    ...cell,
    seed,
    n_trials: injected.length,
    injected,
    conditions: conditions.map(([condition, asked, executed]) => ({
      condition,
      policy_name: condition,
      asked,
      executed,
      // Right actions that ran did the task; planted mistakes never do.
      completed: [...executed]
        .map((e, i) => (e === '1' && injected[i] === '0' ? '1' : '0'))
        .join(''),
      success: [...executed]
        .map((e, i) => (injected[i] === '1' ? (e === '1' ? '0' : '1') : e))
        .join(''),
    })),
  };
}

describe('sweep aggregation', () => {
  const grid = SweepGrid.parse({
    injectionRates: [0.5],
    sensitivities: [0.9],
    fatigues: [0],
    seeds: [1, 2],
    nTrials: 4,
    conditions: ['no_oversight', 'always_review'],
  });
  // Trials 0 and 1 carry a planted mistake. no_oversight runs everything;
  // always_review asks every time, stops both mistakes with seed 1, one with
  // seed 2, and (seed 2) stops one right action.
  const units = [
    unit(1, '1100', [
      ['no_oversight', '0000', '1111'],
      ['always_review', '1111', '0011'],
    ]),
    unit(2, '1100', [
      ['no_oversight', '0000', '1111'],
      ['always_review', '1111', '1001'],
    ]),
  ];

  it('pools over seeds with Wilson intervals and averages seeds with a t-interval', () => {
    const [cell] = aggregateSweep(grid, units);
    const [none, review] = cell!.pooled;
    expect(none!.metrics.harm).toMatchObject({ num: 4, den: 8, rate: 0.5, seedMean: 0.5 });
    expect(none!.metrics.harm.seedInterval).toEqual([0.5, 0.5]);
    expect(review!.metrics.harm).toMatchObject({ num: 1, den: 8, rate: 0.125 });
    expect(review!.metrics.harm.seedMean).toBeCloseTo(0.125, 12);
    // Per-seed harm 0 and 0.25: mean 0.125 ± 12.706 · 0.1768 / √2 = ±1.59,
    // clamped to what a rate can be.
    expect(review!.metrics.harm.seedInterval).toEqual([0, 1]);
    expect(review!.metrics.error_catch).toMatchObject({ num: 3, den: 4, rate: 0.75 });
    expect(review!.metrics.false_reject).toMatchObject({ num: 1, den: 4, rate: 0.25 });
    expect(review!.metrics.approval.rate).toBe(1);
    expect(review!.metrics.harm.wilson![0]).toBeGreaterThan(0);
    expect(cell!.perSeed.map((r) => [r.seed, r.condition, r.metrics.harm.num])).toEqual([
      [1, 'no_oversight', 2],
      [1, 'always_review', 0],
      [2, 'no_oversight', 2],
      [2, 'always_review', 1],
    ]);
  });

  it('compares conditions over (seed, trial) pairs with the exact McNemar test', () => {
    const [cell] = aggregateSweep(grid, units);
    expect(cell!.pairs).toHaveLength(1);
    const pair = cell!.pairs[0]!;
    expect(pair).toMatchObject({
      condition: 'no_oversight',
      comparedWith: 'always_review',
      nPairs: 8,
      nInjected: 4,
    });
    // One pair in one cell: a family of one test, so the Holm p is the p.
    expect(pair.tests.harm).toMatchObject({
      onlyA: 3,
      onlyB: 0,
      p: 0.25,
      pHolm: 0.25,
      diff: 3 / 8,
    });
    // Completion: no_oversight completes the 4 right actions, always_review 3.
    expect(pair.tests.completion).toMatchObject({ onlyA: 1, onlyB: 0, p: 1 });
  });

  it('writes the CSV in a stable column order, one row per pooled condition, pair and seed', () => {
    const csv = toSweepCsv(aggregateSweep(grid, units));
    const lines = csv.split('\r\n').filter(Boolean);
    expect(lines[0]).toBe(SWEEP_COLUMNS.join(','));
    expect(lines).toHaveLength(1 + 2 + 1 + 4);
    const rows = lines
      .slice(1)
      .map((l) => Object.fromEntries(l.split(',').map((v, i) => [SWEEP_COLUMNS[i], v])));
    expect(rows.map((r) => r.row_type)).toEqual([
      'pooled',
      'pooled',
      'mcnemar',
      'seed',
      'seed',
      'seed',
      'seed',
    ]);
    expect(rows[1]).toMatchObject({
      condition: 'always_review',
      harm_rate: '0.125',
      harm_num: '1',
      harm_den: '8',
      seed: '',
    });
    expect(rows[2]).toMatchObject({
      condition: 'no_oversight',
      compared_with: 'always_review',
      harm_only_condition: '3',
      harm_only_compared: '0',
      harm_mcnemar_p: '0.25',
      harm_mcnemar_p_holm: '0.25',
      harm_diff: '0.375',
      harm_rate: '',
    });
    expect(rows[3]).toMatchObject({ seed: '1', harm_seed_mean: '' });
  });

  it('refuses records whose conditions did not see the same trials', () => {
    const rec = (condition: string, i: number, task: string): TrialRecord =>
      trialRecord({
        trial_id: `${condition}:${task}`,
        run_id: `${condition}:${task}`,
        condition,
        policy_name: condition,
        trial_index: i,
        task_id: task,
      });
    const u = {
      scenario: 'email_draft' as const,
      injectionRate: 0,
      sensitivity: 1,
      specificity: 1,
      fatigue: 0,
      seed: 1,
    };
    const ok = toUnitResult(u, 1, ['a', 'b'], [rec('a', 0, 't0'), rec('b', 0, 't0')]);
    expect(ok.conditions.map((c) => c.executed)).toEqual(['1', '1']);
    expect(() => toUnitResult(u, 1, ['a', 'b'], [rec('a', 0, 't0'), rec('b', 0, 't9')])).toThrow(
      /cannot be compared as pairs/,
    );
  });
});

describe('sweep runs', () => {
  it('a cell with one seed gives what `hitloop experiment` gives with the same settings', async () => {
    const grid = SweepGrid.parse({
      scenarios: ['record_update'],
      injectionRates: [0.3],
      sensitivities: [0.7],
      specificities: [0.9],
      fatigues: [0.05],
      seeds: [11],
      nTrials: 60,
    });
    const result = (await runUnit(grid, { ...sweepCells(grid)[0]!, seed: 11 }))!;
    const [cell] = aggregateSweep(grid, [result]);
    const { summary } = await runExperiment({
      scenario: 'record_update',
      nTrials: 60,
      injectionRate: 0.3,
      seed: 11,
      reviewer: { sensitivity: 0.7, specificity: 0.9, fatigue: { decayPerApproval: 0.05 } },
    });
    for (const row of cell!.pooled) {
      const c = summary!.conditions[row.condition]!;
      expect(row.metrics.harm.rate).toBe(c.harm_rate);
      expect(row.metrics.approval.rate).toBe(c.approval_rate);
      expect(row.metrics.completion.rate).toBe(c.completion_rate);
      expect(row.metrics.success.rate).toBe(c.success_rate);
      expect(row.metrics.error_catch.rate).toBe(c.error_catch_rate);
      expect(row.metrics.false_reject.rate).toBe(c.false_reject_rate);
    }
    // Oversight made a difference here, or the comparison above proves little.
    expect(cell!.pooled[0]!.metrics.harm.rate).toBeGreaterThan(cell!.pooled[3]!.metrics.harm.rate!);
  });

  it('stopped midway and run again, it ends with the same bytes as an uninterrupted run', async () => {
    const grid = SweepGrid.parse({
      injectionRates: [0.2, 0.4],
      sensitivities: [0.6, 0.9],
      seeds: [1, 2],
      nTrials: 25,
    });
    const whole = tmp();
    await runSweepToDir(grid, { outDir: whole });
    const cut = tmp();
    const controller = new AbortController();
    const first = await runSweepToDir(grid, {
      outDir: cut,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done >= 350) controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    const again = await runSweepToDir(grid, { outDir: cut });
    expect(again.interrupted).toBe(false);
    expect(again.resumedUnits).toBe(3);
    for (const f of ['sweep.csv', 'sweep-manifest.json', 'sweep-report.html'])
      expect(readFileSync(join(cut, f)).equals(readFileSync(join(whole, f)))).toBe(true);
  });
});
