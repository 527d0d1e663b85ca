import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import { EXPERIMENT_FILES, readSummary, writeFileAtomic } from '../../../shared/eval/export.js';
import {
  type ReportChart,
  type ReportSection,
  renderMultiReportHtml,
  renderReportCharts,
  renderScenarioComparisonChart,
  writeChartSvgs,
} from '../../../shared/eval/report.js';
import { renderChartsToPng } from '../../../shared/eval/report-png.js';
import type { CliIo } from '../program.js';

interface ReportOptions {
  out?: string;
  png: boolean;
  chromium?: string;
}

/**
 * `hitloop report DIR...`: a self-contained HTML report of one or more
 * finished experiments, every chart also as an SVG file and (when a Chromium
 * is available) a PNG.
 *
 * @example
 * registerReportCommand(program, io);
 * // hitloop report results/email   -> results/email/report.html, results/email/charts/*.{svg,png}
 * // hitloop report results/email results/crm --out both.html   -> both.html, charts/*.{svg,png} beside it
 */
export function registerReportCommand(program: Command, io: CliIo): void {
  program
    .command('report')
    .description(
      'render experiment directories as one HTML report with charts (SVG and PNG files of each chart too)',
    )
    .argument('<dirs...>', 'the --out directories of `hitloop experiment` (one or more)')
    .option(
      '--out <file>',
      `where the HTML goes (default with one DIR: DIR/${EXPERIMENT_FILES.report}; needed with several)`,
    )
    .option('--no-png', 'skip the PNG copies of the charts (the SVG files are always written)')
    .option(
      '--chromium <path>',
      'Chromium for the PNGs (default: $HITLOOP_CHROMIUM or /usr/bin/chromium)',
    )
    .action(async (dirs: string[], opts: ReportOptions) => {
      await runReport(dirs, opts, io);
    });
}

async function runReport(dirs: string[], opts: ReportOptions, io: CliIo): Promise<void> {
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new ConfigError({
        field: 'DIR',
        problem: `${dir} is not a directory`,
        fix: 'pass the --out directory of a finished `hitloop experiment` run',
      });
    }
  }
  if (dirs.length > 1 && !opts.out) {
    throw new ConfigError({
      field: '--out',
      problem: `is needed with ${dirs.length} experiment directories (the report belongs to none of them)`,
      fix: `e.g. hitloop report ${dirs.join(' ')} --out report.html`,
    });
  }
  const out = opts.out ?? join(dirs[0]!, EXPERIMENT_FILES.report);
  const sections = toSections(dirs);
  const comparison = sections.length > 1 ? renderScenarioComparisonChart(sections) : undefined;
  const charts: ReportChart[] = [
    ...(comparison ? [comparison] : []),
    ...sections.flatMap((s) => s.charts),
  ];
  // Chart files sit beside the report: DIR/charts for one experiment.
  const chartsDir = join(dirs.length > 1 ? dirname(out) : dirs[0]!, 'charts');
  let svgs: string[];
  try {
    svgs = writeChartSvgs(charts, chartsDir);
  } catch (err) {
    throw new ConfigError({
      field: '--out',
      problem: `cannot write the chart files in ${chartsDir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      fix: 'choose a location you can write to',
    });
  }
  const base = dirname(resolve(out));
  const shown = (files: string[]) => files.map((f) => relative(base, resolve(f))).join(', ');
  let pngNote = `Chart files (SVG): ${shown(svgs)}.`;
  if (!opts.png) {
    pngNote += ' PNG copies were not requested (--no-png).';
    io.stderr(`hitloop: wrote ${svgs.join(', ')}\n`);
  } else {
    const result = await renderChartsToPng(charts, chartsDir, {
      ...(opts.chromium ? { executablePath: opts.chromium } : {}),
    });
    if (result.ok) {
      pngNote += ` PNG copies of the charts: ${shown(result.files)}.`;
      io.stderr(`hitloop: wrote ${[...svgs, ...result.files].join(', ')}\n`);
    } else {
      pngNote += ` PNG copies of the charts were skipped: ${result.reason}.`;
      io.stderr(
        `hitloop: PNG charts skipped: ${result.reason}. The HTML report is complete without them.\n`,
      );
    }
  }
  try {
    writeFileAtomic(
      out,
      renderMultiReportHtml(sections, { pngNote, ...(comparison ? { comparison } : {}) }),
    );
  } catch (err) {
    throw new ConfigError({
      field: '--out',
      problem: `cannot write ${out} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      fix: 'choose a file in a directory you can write to',
    });
  }
  io.stdout(`${out}\n`);
}

/**
 * One section per directory, labelled by scenario; when scenarios repeat
 * (two seeds of one scenario), by scenario and directory name. With several
 * sections, chart ids get the label as a prefix so the files do not collide.
 */
function toSections(dirs: string[]): ReportSection[] {
  const summaries = dirs.map((dir) => ({ dir, summary: readSummary(dir) }));
  const counts = new Map<string, number>();
  for (const { summary } of summaries)
    counts.set(summary.scenario, (counts.get(summary.scenario) ?? 0) + 1);
  const labels = new Set<string>();
  return summaries.map(({ dir, summary }, i) => {
    let label =
      (counts.get(summary.scenario) ?? 0) > 1
        ? `${summary.scenario} (${basename(resolve(dir))})`
        : summary.scenario;
    if (labels.has(label)) label = `${label} #${i + 1}`;
    labels.add(label);
    const slug = label.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
    const charts = renderReportCharts(summary).map((c) =>
      dirs.length > 1 ? { ...c, id: `${slug}-${c.id}` } : c,
    );
    return { label, summary, charts };
  });
}
