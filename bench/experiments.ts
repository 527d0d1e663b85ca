import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExperiment } from '../shared/eval/experiment.js';
import type { ScenarioName } from '../shared/eval/types.js';
import { type BenchRow, secondsRow } from './format.js';

const TARGET_S = 10;

async function seconds(scenario: ScenarioName, nTrials: number, outDir?: string): Promise<number> {
  const started = process.hrtime.bigint();
  await runExperiment(
    { scenario, nTrials, injectionRate: 0.2, seed: 42 },
    outDir ? { outDir } : {},
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * The experiment harness end to end: the four standard conditions of 1,000
 * trials each (4,000 trials with real side effects, simulated reviews,
 * metrics with 2,000-resample bootstraps) per scenario, in memory; and once
 * more with everything written to disk (results, summary, resume journal,
 * telemetry). Target: under 10 s each.
 *
 * @example
 * printTable('Experiments', await benchExperiments());
 */
export async function benchExperiments(): Promise<BenchRow[]> {
  // Warm the JIT and the module caches so the first scenario is not penalised.
  await seconds('email_draft', 50);
  const rows: BenchRow[] = [];
  for (const scenario of ['email_draft', 'record_update', 'coding'] as const) {
    const s = await seconds(scenario, 1000);
    rows.push(secondsRow(`experiment ${scenario}: 4 conditions x 1,000 trials`, s, TARGET_S));
  }
  const out = mkdtempSync(join(tmpdir(), 'hitloop-bench-exp-'));
  try {
    const s = await seconds('record_update', 1000, out);
    rows.push(
      secondsRow(
        'experiment record_update, with results, journal and telemetry on disk',
        s,
        TARGET_S,
      ),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return rows;
}
