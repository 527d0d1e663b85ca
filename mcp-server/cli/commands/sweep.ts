import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import { writeFileAtomic } from '../../../shared/eval/export.js';
import { renderChartsToPng } from '../../../shared/eval/report-png.js';
import type { CellResult } from '../../../shared/eval/sweep/aggregate.js';
import {
  type GridSource,
  parseSweepGrid,
  readGridFile,
  type SweepGrid,
  sweepTrialCount,
} from '../../../shared/eval/sweep/grid.js';
import {
  runSweepToDir,
  SWEEP_FILES,
  type SweepOutcome,
  sweepSvgNote,
} from '../../../shared/eval/sweep/sweep.js';
import {
  renderSweepReportHtml,
  renderSweepTradeoffChart,
} from '../../../shared/eval/sweep/sweep-report.js';
import type { CliIo } from '../program.js';
import { runResumable } from './resumable-run.js';

interface SweepOptions {
  grid?: string;
  scenarios?: string;
  injectionRates?: string;
  sensitivities?: string;
  specificities?: string;
  fatigues?: string;
  fatigueFloor?: string;
  conditions?: string;
  seeds?: string;
  nTrials?: string;
  errorTypes?: string;
  auditSampleRate?: string;
  out: string;
  fresh?: boolean;
  progress: boolean;
  png: boolean;
  chromium?: string;
}

/** Each flag that sets a grid key: the key, how its text becomes a value. */
const FLAGS: Array<{
  option: keyof SweepOptions;
  flag: string;
  key: keyof SweepGrid;
  kind: 'numbers' | 'number' | 'words';
}> = [
  { option: 'scenarios', flag: '--scenarios', key: 'scenarios', kind: 'words' },
  { option: 'injectionRates', flag: '--injection-rates', key: 'injectionRates', kind: 'numbers' },
  { option: 'sensitivities', flag: '--sensitivities', key: 'sensitivities', kind: 'numbers' },
  { option: 'specificities', flag: '--specificities', key: 'specificities', kind: 'numbers' },
  { option: 'fatigues', flag: '--fatigues', key: 'fatigues', kind: 'numbers' },
  { option: 'fatigueFloor', flag: '--fatigue-floor', key: 'fatigueFloor', kind: 'number' },
  { option: 'conditions', flag: '--conditions', key: 'conditions', kind: 'words' },
  { option: 'seeds', flag: '--seeds', key: 'seeds', kind: 'numbers' },
  { option: 'nTrials', flag: '--n-trials', key: 'nTrials', kind: 'number' },
  { option: 'errorTypes', flag: '--error-types', key: 'errorTypes', kind: 'words' },
  {
    option: 'auditSampleRate',
    flag: '--audit-sample-rate',
    key: 'auditSampleRate',
    kind: 'number',
  },
];

/**
 * `hitloop sweep`: runs a grid of experiments and writes one CSV and a
 * report of trade-off curves.
 *
 * @example
 * registerSweepCommand(program, io);
 * // hitloop sweep --injection-rates 0.1,0.2,0.3 --sensitivities 0.6,0.75,0.9 --seeds 1,2,3 --out results/sweep
 */
export function registerSweepCommand(program: Command, io: CliIo): void {
  program
    .command('sweep')
    .description(
      'run a grid of experiments (injection rates x reviewer settings x conditions x seeds): one CSV with intervals and paired McNemar tests, and a report of trade-off curves',
    )
    .option(
      '--grid <file>',
      'a grid file (.json or .toml) with the keys below in camelCase; flags override it',
    )
    .option('--scenarios <list>', 'scenarios, comma-separated (default email_draft)')
    .option(
      '--injection-rates <list>',
      'shares of trials with a planted mistake (default 0.1,0.2,0.3)',
    )
    .option('--sensitivities <list>', 'reviewer P(reject | wrong action) (default 0.6,0.75,0.9)')
    .option('--specificities <list>', 'reviewer P(approve | right action) (default 0.95)')
    .option('--fatigues <list>', 'sensitivity lost per approval in a row (default 0.02)')
    .option('--fatigue-floor <p>', 'sensitivity of a fully fatigued reviewer (default 0.5)')
    .option('--conditions <list>', 'conditions, or the sets standard / seed (default standard)')
    .option('--seeds <list>', 'seeds, comma-separated whole numbers (default 1,2,3)')
    .option('--n-trials <n>', 'trials per condition, seed and cell (default 200)')
    .option(
      '--error-types <list>',
      'restrict the planted mistakes (default: all each scenario supports)',
    )
    .option('--audit-sample-rate <p>', 'audit_plus_escalate sample rate (default 0.1)')
    .requiredOption(
      '--out <dir>',
      `directory for ${SWEEP_FILES.csv}, ${SWEEP_FILES.report} and the resume journal`,
    )
    .option('--fresh', 'discard an earlier, unfinished sweep in --out instead of resuming it')
    .option('--no-progress', 'no progress bar or progress lines on stderr')
    .option('--no-png', 'skip the PNG copy of the chart')
    .option(
      '--chromium <path>',
      'Chromium for the PNG (default: $HITLOOP_CHROMIUM or /usr/bin/chromium)',
    )
    .action(async (opts: SweepOptions) => {
      await runSweepCommand(opts, io);
    });
}

/** The grid from `--grid` and the flags (flags win), validated; errors name the flag or the file and field. */
function gridFromOptions(opts: SweepOptions): SweepGrid {
  let base: Record<string, unknown> = {};
  if (opts.grid !== undefined) {
    const raw = readGridFile(opts.grid);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError({
        file: opts.grid,
        problem: 'must be an object of grid keys (e.g. {"injectionRates": [0.1, 0.2]})',
        fix: 'see docs/sweep.md for the keys',
      });
    }
    base = raw as Record<string, unknown>;
  }
  const merged: Record<string, unknown> = { ...base };
  const flags: Record<string, string> = {};
  for (const f of FLAGS) {
    const text = opts[f.option];
    if (typeof text !== 'string') continue;
    merged[f.key] = flagValue(f.flag, text, f.kind);
    flags[f.key] = f.flag;
  }
  const source: GridSource = { ...(opts.grid ? { file: opts.grid } : {}), flags };
  return parseSweepGrid(merged, source);
}

function flagValue(flag: string, text: string, kind: 'numbers' | 'number' | 'words'): unknown {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0)
    throw new ConfigError({
      field: flag,
      problem: 'is empty',
      fix: 'give one or more values, comma-separated',
    });
  if (kind === 'words') return items;
  const numbers = items.map((item) => {
    const n = Number(item);
    if (!Number.isFinite(n))
      throw new ConfigError({
        field: flag,
        problem: `"${item}" is not a number`,
        fix: 'give numbers, comma-separated',
      });
    return n;
  });
  if (kind === 'number' && numbers.length > 1)
    throw new ConfigError({
      field: flag,
      problem: 'takes one value',
      fix: `e.g. ${flag} ${numbers[0]}`,
    });
  return kind === 'number' ? numbers[0] : numbers;
}

async function runSweepCommand(opts: SweepOptions, io: CliIo): Promise<void> {
  const grid = gridFromOptions(opts);
  if (opts.out.trim() === '')
    throw new ConfigError({ field: '--out', problem: 'is empty', fix: 'e.g. --out results/sweep' });
  if (existsSync(opts.out) && !statSync(opts.out).isDirectory()) {
    throw new ConfigError({
      field: '--out',
      problem: `${opts.out} is a file, not a directory`,
      fix: 'name a directory (it is created if missing)',
    });
  }
  // Ctrl-C stops after the current trial; finished units stay in the journal,
  // so the same command resumes.
  const outcome: SweepOutcome = await runResumable(
    io,
    opts.progress,
    'use another --out directory, or add --fresh to discard the earlier sweep there',
    (hooks) => runSweepToDir(grid, { outDir: opts.out, fresh: opts.fresh === true, ...hooks }),
  );
  if (outcome.interrupted || !outcome.cells) {
    throw new Error(
      `interrupted; finished units are in ${outcome.files.journal}. Run the same command again to resume.`,
    );
  }
  if (opts.png) await addPng(opts, grid, outcome.cells, outcome.files.report!, io);
  io.stdout(formatTable(outcome.cells));
  const resumed = outcome.resumedUnits
    ? ` (${outcome.resumedUnits} of ${outcome.totalUnits} units resumed from ${outcome.files.journal})`
    : '';
  io.stderr(
    `hitloop: ${sweepTrialCount(grid).toLocaleString('en-US')} trials; wrote ${outcome.files.csv}, ${outcome.files.report} and ${outcome.files.manifest}${resumed}\n`,
  );
}

/** Renders the chart to PNG and rewrites the report with a note saying where it is (or why not). */
async function addPng(
  opts: SweepOptions,
  grid: SweepGrid,
  cells: CellResult[],
  reportPath: string,
  io: CliIo,
): Promise<void> {
  const chart = renderSweepTradeoffChart(cells);
  const result = await renderChartsToPng([chart], join(opts.out, SWEEP_FILES.charts), {
    ...(opts.chromium ? { executablePath: opts.chromium } : {}),
  });
  let pngNote: string;
  if (result.ok) {
    pngNote = `PNG copy of the chart: ${result.files.map((f) => relative(opts.out, f)).join(', ')}.`;
    io.stderr(`hitloop: wrote ${result.files.join(', ')}\n`);
  } else {
    pngNote = `The PNG copy of the chart was skipped: ${result.reason}.`;
    io.stderr(
      `hitloop: PNG chart skipped: ${result.reason}. The HTML report is complete without it.\n`,
    );
  }
  writeFileAtomic(
    reportPath,
    renderSweepReportHtml(grid, cells, { chart, notes: [sweepSvgNote(), pngNote] }),
  );
}

function formatTable(cells: readonly CellResult[]): string {
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
  const header = [
    'scenario',
    'inj',
    'sens',
    'spec',
    'fat',
    'condition',
    'approval',
    'harm',
    'catch',
    'completion',
  ];
  const rows = cells.flatMap((c) =>
    c.pooled.map((r) => [
      c.cell.scenario,
      String(c.cell.injectionRate),
      String(c.cell.sensitivity),
      String(c.cell.specificity),
      String(c.cell.fatigue),
      r.condition,
      pct(r.metrics.approval.rate),
      pct(r.metrics.harm.rate),
      pct(r.metrics.error_catch.rate),
      pct(r.metrics.completion.rate),
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
