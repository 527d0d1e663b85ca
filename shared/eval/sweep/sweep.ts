import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../export.js';
import type { ExperimentProgress } from '../runner.js';
import { aggregateSweep, type CellResult } from './aggregate.js';
import {
  type SweepGrid,
  type SweepGridInput,
  SweepGrid as SweepGridSchema,
  sweepCells,
  sweepFingerprint,
  sweepTrialCount,
  sweepUnits,
} from './grid.js';
import { SWEEP_COLUMNS, toSweepCsv } from './sweep-csv.js';
import { SweepJournal } from './sweep-journal.js';
import {
  renderSweepReportHtml,
  renderSweepTradeoffChart,
  type SweepReportOptions,
} from './sweep-report.js';
import { runSweep } from './sweep-runner.js';

/**
 * File names a sweep writes into its output directory.
 *
 * @example
 * join(outDir, SWEEP_FILES.csv) // 'out/sweep.csv'
 */
export const SWEEP_FILES = {
  csv: 'sweep.csv',
  manifest: 'sweep-manifest.json',
  journal: 'sweep-journal.jsonl',
  report: 'sweep-report.html',
  charts: 'sweep-charts',
} as const;

/**
 * Options for {@link runSweepToDir} that do not change the results.
 *
 * @example
 * const options: SweepRunOptions = { outDir: 'results/sweep', onProgress: progress.update };
 */
export interface SweepRunOptions {
  /** Where the CSV, the manifest, the report and the resume journal go. */
  outDir: string;
  /** Discard a journal left by an earlier run instead of resuming it. */
  fresh?: boolean;
  onProgress?: (progress: ExperimentProgress) => void;
  signal?: AbortSignal;
  /** Passed to the report (e.g. more notes; the SVG file's note comes first). */
  report?: SweepReportOptions;
}

/**
 * What {@link runSweepToDir} returns.
 *
 * @example
 * const { cells, files } = await runSweepToDir(grid, { outDir: 'out' });
 */
export interface SweepOutcome {
  grid: SweepGrid;
  fingerprint: string;
  /** Null when interrupted. */
  cells: CellResult[] | null;
  resumedUnits: number;
  totalUnits: number;
  interrupted: boolean;
  files: { csv?: string; manifest?: string; report?: string; svg?: string; journal: string };
}

/**
 * Runs a sweep into a directory: every unit (cell × seed) of the grid,
 * resuming from the journal there, then `sweep.csv`, `sweep-manifest.json`
 * and `sweep-report.html`. Interrupted (signal), it writes only the journal; the
 * same call later continues where it stopped. The outputs carry no times,
 * so the same grid gives byte-identical files however often it was
 * interrupted.
 *
 * @example
 * const outcome = await runSweepToDir({ injectionRates: [0.1, 0.2, 0.3], seeds: [1, 2, 3] }, { outDir: 'results/sweep' });
 * outcome.cells?.[0]?.pairs[0]?.tests.harm.p;
 */
export async function runSweepToDir(
  input: SweepGrid | SweepGridInput,
  options: SweepRunOptions,
): Promise<SweepOutcome> {
  const grid = SweepGridSchema.parse(input);
  const fingerprint = sweepFingerprint(grid);
  mkdirSync(options.outDir, { recursive: true });
  const files: SweepOutcome['files'] = { journal: join(options.outDir, SWEEP_FILES.journal) };
  const journal = SweepJournal.open(files.journal, fingerprint, sharedSettings(grid), {
    fresh: options.fresh === true,
  });
  const totalUnits = sweepUnits(grid).length;
  try {
    const run = await runSweep(grid, {
      journal,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (run.interrupted) {
      return {
        grid,
        fingerprint,
        cells: null,
        resumedUnits: run.resumedUnits,
        totalUnits,
        interrupted: true,
        files,
      };
    }
    const cells = aggregateSweep(grid, run.units);
    files.csv = join(options.outDir, SWEEP_FILES.csv);
    files.manifest = join(options.outDir, SWEEP_FILES.manifest);
    files.report = join(options.outDir, SWEEP_FILES.report);
    writeFileAtomic(files.csv, toSweepCsv(cells));
    writeFileAtomic(
      files.manifest,
      `${JSON.stringify(sweepManifest(grid, fingerprint), null, 2)}\n`,
    );
    // The chart as an SVG file too, beside where the PNG goes, for papers and slides.
    const chart = renderSweepTradeoffChart(cells);
    mkdirSync(join(options.outDir, SWEEP_FILES.charts), { recursive: true });
    files.svg = join(options.outDir, SWEEP_FILES.charts, `${chart.id}.svg`);
    writeFileAtomic(files.svg, chart.svg);
    writeFileAtomic(
      files.report,
      renderSweepReportHtml(grid, cells, {
        chart,
        notes: [sweepSvgNote(), ...(options.report?.notes ?? [])],
      }),
    );
    return {
      grid,
      fingerprint,
      cells,
      resumedUnits: run.resumedUnits,
      totalUnits,
      interrupted: false,
      files,
    };
  } finally {
    journal.close();
  }
}

/**
 * The report's line naming the chart's SVG file (relative to the report).
 *
 * @example
 * sweepSvgNote() // 'Chart as SVG: sweep-charts/tradeoff.svg.'
 */
export function sweepSvgNote(): string {
  return `Chart as SVG: ${SWEEP_FILES.charts}/tradeoff.svg.`;
}

function sharedSettings(grid: SweepGrid): Record<string, unknown> {
  return {
    nTrials: grid.nTrials,
    conditions: grid.conditions,
    errorTypes: grid.errorTypes ?? 'all',
    auditSampleRate: grid.auditSampleRate,
    fatigueFloor: grid.fatigueFloor,
  };
}

/**
 * `sweep-manifest.json`: the grid as run (defaults filled in), its size, the
 * CSV's columns and the files. No times, like the CSV.
 *
 * @example
 * JSON.parse(readFileSync('out/sweep-manifest.json', 'utf8')).grid.seeds // [1, 2, 3]
 */
export function sweepManifest(grid: SweepGrid, fingerprint = sweepFingerprint(grid)) {
  return {
    format: 'hitloop-sweep-manifest/1' as const,
    fingerprint,
    grid,
    n_cells: sweepCells(grid).length,
    n_units: sweepUnits(grid).length,
    n_trials: sweepTrialCount(grid),
    columns: [...SWEEP_COLUMNS],
    files: {
      csv: SWEEP_FILES.csv,
      report: SWEEP_FILES.report,
      chart_svg: `${SWEEP_FILES.charts}/tradeoff.svg`,
      journal: SWEEP_FILES.journal,
    },
  };
}
