import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SweepGrid } from '../shared/eval/sweep/grid.js';
import { runSweepToDir } from '../shared/eval/sweep/sweep.js';
import type { ScenarioName } from '../shared/eval/types.js';
import { type BenchRow, secondsRow } from './format.js';

const TARGET_S = 60;

/**
 * `hitloop sweep` end to end on the grid: 3 injection rates × 3
 * reviewer sensitivities × 4 conditions × 3 seeds × 200 trials (21,600
 * trials), with the resume journal, the CSV, the manifest and the report
 * written to disk (no PNG: that is Chromium's time, not the sweep's).
 * Target: under 60 s on the project's 2-core machine. Run for the default
 * scenario and for the slowest (coding, which writes real files per trial).
 *
 * @example
 * printTable('Sweep', await benchSweep());
 */
export async function benchSweep(
  scenarios: readonly ScenarioName[] = ['email_draft', 'coding'],
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const scenario of scenarios) {
    const grid = SweepGrid.parse({ scenarios: [scenario] });
    const out = mkdtempSync(join(tmpdir(), 'hitloop-bench-sweep-'));
    try {
      const started = process.hrtime.bigint();
      const outcome = await runSweepToDir(grid, { outDir: out });
      const s = Number(process.hrtime.bigint() - started) / 1e9;
      if (outcome.interrupted) throw new Error('bench sweep was interrupted');
      rows.push(
        secondsRow(
          `sweep ${scenario}: 3 rates x 3 sensitivities x 4 conditions x 3 seeds x 200 trials`,
          s,
          TARGET_S,
        ),
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  return rows;
}
