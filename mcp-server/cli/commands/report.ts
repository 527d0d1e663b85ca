import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import { EXPERIMENT_FILES, readSummary, writeFileAtomic } from '../../../shared/eval/export.js';
import { renderReportCharts, renderReportHtml } from '../../../shared/eval/report.js';
import { renderChartsToPng } from '../../../shared/eval/report-png.js';
import type { CliIo } from '../program.js';

interface ReportOptions {
  out?: string;
  png: boolean;
  chromium?: string;
}

/**
 * `hitloop report DIR`: a self-contained HTML report of a finished
 * experiment, plus a PNG of each chart (when a Chromium is available).
 *
 * @example
 * registerReportCommand(program, io);
 * // hitloop report results/email   -> results/email/report.html, results/email/charts/*.png
 */
export function registerReportCommand(program: Command, io: CliIo): void {
  program
    .command('report')
    .description('render an experiment directory as an HTML report with charts (and PNGs of them)')
    .argument('<dir>', 'the --out directory of `hitloop experiment`')
    .option('--out <file>', `where the HTML goes (default: DIR/${EXPERIMENT_FILES.report})`)
    .option('--no-png', 'skip the PNG copies of the charts')
    .option(
      '--chromium <path>',
      'Chromium for the PNGs (default: $HITLOOP_CHROMIUM or /usr/bin/chromium)',
    )
    .action(async (dir: string, opts: ReportOptions) => {
      await runReport(dir, opts, io);
    });
}

async function runReport(dir: string, opts: ReportOptions, io: CliIo): Promise<void> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ConfigError({
      field: 'DIR',
      problem: `${dir} is not a directory`,
      fix: 'pass the --out directory of a finished `hitloop experiment` run',
    });
  }
  const summary = readSummary(dir);
  const charts = renderReportCharts(summary);
  const chartsDir = join(dir, 'charts');
  let pngNote: string;
  if (!opts.png) {
    pngNote = 'PNG copies of the charts were not requested (--no-png).';
  } else {
    const result = await renderChartsToPng(charts, chartsDir, {
      ...(opts.chromium ? { executablePath: opts.chromium } : {}),
    });
    if (result.ok) {
      pngNote = `PNG copies of the charts: ${result.files.map((f) => f.slice(dir.length).replace(/^[\\/]/, '')).join(', ')}.`;
      io.stderr(`hitloop: wrote ${result.files.join(', ')}\n`);
    } else {
      pngNote = `PNG copies of the charts were skipped: ${result.reason}.`;
      io.stderr(
        `hitloop: PNG charts skipped: ${result.reason}. The HTML report is complete without them.\n`,
      );
    }
  }
  const out = opts.out ?? join(dir, EXPERIMENT_FILES.report);
  try {
    writeFileAtomic(out, renderReportHtml(summary, { charts, pngNote }));
  } catch (err) {
    throw new ConfigError({
      field: '--out',
      problem: `cannot write ${out} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      fix: 'choose a file in a directory you can write to',
    });
  }
  io.stdout(`${out}\n`);
}
