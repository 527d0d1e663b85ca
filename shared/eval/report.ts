import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from '../util/escape-html.js';
import { CONDITION_NAMES } from './conditions.js';
import {
  type ConditionSummary,
  type ExperimentSummary,
  type SummaryInterval,
  writeFileAtomic,
} from './export.js';
import { RATE_METRICS, type RateMetric } from './metrics.js';
import { reportPage } from './report-page.js';

// Every piece of text that reaches the report goes through escapeHtml:
// condition names and descriptions come from a file a person may have edited.

/**
 * One chart of the report: an inline SVG document and its size.
 *
 * @example
 * const [rates] = renderReportCharts(summary); rates.svg.startsWith('<svg') // true
 */
export interface ReportChart {
  /** Unique within a report: the file name of its SVG and PNG, and its HTML anchor. */
  id: string;
  title: string;
  svg: string;
  width: number;
  height: number;
}

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#56B4E9',
  '#D55E00',
  '#F0E442',
  '#000000',
];
const RATE_LABELS: Record<RateMetric, string> = {
  success_rate: 'success',
  completion_rate: 'completion',
  harm_rate: 'harm',
  approval_rate: 'approval',
  error_catch_rate: 'error catch',
  false_reject_rate: 'false reject',
  tool_failure_rate: 'tool failure',
};
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

/**
 * A condition's colour: the standard and the seed's conditions each have
 * their own (one per palette entry), so a condition looks the same in every
 * chart, every section and in the sweep report; other names take the colour
 * of their position.
 *
 * @example
 * conditionColour('always_approve', 0) // the same colour in every report
 */
export function conditionColour(name: string, i: number): string {
  const known = (CONDITION_NAMES as readonly string[]).indexOf(name);
  return PALETTE[(known >= 0 ? known : i) % PALETTE.length]!;
}

function pct(v: number | null): string {
  return v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`;
}

function fixed(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function conditionsOf(summary: ExperimentSummary): Array<[string, ConditionSummary]> {
  return summary.condition_order.map((name) => [name, summary.conditions[name]!]);
}

function legend(names: readonly string[], x: number, y: number, perRow = 4): string {
  return names
    .map(
      (name, i) =>
        `<g transform="translate(${x + (i % perRow) * 170},${y + Math.floor(i / perRow) * 18})"><rect width="12" height="12" fill="${conditionColour(name, i)}"/>` +
        `<text x="18" y="11" font-size="12" ${FONT}>${escapeHtml(name)}</text></g>`,
    )
    .join('');
}

function yAxis(left: number, top: number, plotH: number, plotW: number): string {
  let out = '';
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plotH * (1 - t);
    out +=
      `<line x1="${left}" x2="${left + plotW}" y1="${fixed(y)}" y2="${fixed(y)}" stroke="#ddd"/>` +
      `<text x="${left - 6}" y="${fixed(y + 4)}" font-size="11" text-anchor="end" ${FONT}>${t * 100}%</text>`;
  }
  return out;
}

/**
 * Per error type, per condition: how many of that kind's planted mistakes a
 * person was asked about, how many were caught, and the harm they did (share
 * of all trials), with the catch rate's interval. Empty without injections.
 */
function errorTypeTable(conds: Array<[string, ConditionSummary]>): string {
  const types: string[] = [];
  for (const [, c] of conds) {
    for (const type of Object.keys(c.by_error_type)) if (!types.includes(type)) types.push(type);
  }
  if (types.length === 0) return '';
  const head = conds.map(([name]) => `<th>${escapeHtml(name)}</th>`).join('');
  const body = types
    .map((type) => {
      const cells = conds.map(([, c]) => {
        const t = c.by_error_type[type];
        if (!t) return '<td>n/a</td>';
        return (
          `<td>asked ${t.n_approval_requests}/${t.n_injected} · caught ${escapeHtml(pct(t.error_catch_rate))}` +
          `<div class="sub">${escapeHtml(intervalText(t.intervals.error_catch_rate ?? null, pct))} · harm ${escapeHtml(pct(t.harm_rate))} of trials</div></td>`
        );
      });
      return `<tr><th scope="row">${escapeHtml(type)}</th>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<h2>Per error type</h2>
<table>
<thead><tr><th>planted mistake</th>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>`;
}

/**
 * Grouped bars: each rate metric, one bar per condition, with its 95% Wilson
 * interval as a whisker.
 *
 * @example
 * const chart = renderRatesChart(summary);
 */
export function renderRatesChart(summary: ExperimentSummary): ReportChart {
  const conds = conditionsOf(summary);
  const width = 820;
  const height = 380;
  const left = 56;
  const top = 48;
  const plotW = width - left - 20;
  const plotH = height - top - 60;
  const groupW = plotW / RATE_METRICS.length;
  const barW = Math.min(28, (groupW - 16) / Math.max(1, conds.length));
  let bars = '';
  RATE_METRICS.forEach((metric, g) => {
    const gx = left + g * groupW + (groupW - barW * conds.length) / 2;
    conds.forEach(([name, c], i) => {
      const x = gx + i * barW;
      const v = c[metric];
      const interval = c.intervals[metric] ?? null;
      const label = `${name} ${RATE_LABELS[metric]}: ${pct(v)}${interval ? ` (95% CI ${pct(interval.low)}–${pct(interval.high)}, n=${interval.n})` : ''}`;
      bars += barSvg({ x, barW, top, plotH, v, interval, fill: conditionColour(name, i), label });
    });
    bars += `<text x="${fixed(left + g * groupW + groupW / 2)}" y="${top + plotH + 18}" font-size="12" text-anchor="middle" ${FONT}>${escapeHtml(RATE_LABELS[metric])}</text>`;
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Rates per condition with 95% Wilson intervals">` +
    `<rect width="${width}" height="${height}" fill="#fff"/>` +
    `<text x="${left}" y="22" font-size="15" font-weight="600" ${FONT}>Rates per condition (bars) with 95% Wilson intervals (whiskers)</text>` +
    yAxis(left, top, plotH, plotW) +
    bars +
    legend(
      conds.map(([n]) => n),
      left,
      height - 22,
    ) +
    '</svg>';
  return { id: 'rates', title: 'Rates per condition', svg, width, height };
}

/**
 * One bar of a grouped chart at `x`: its rect with the tooltip `label` and a
 * whisker for `interval`, or a grey "n/a" when there is no value.
 */
function barSvg(b: {
  x: number;
  barW: number;
  top: number;
  plotH: number;
  v: number | null;
  interval: SummaryInterval | null;
  fill: string;
  label: string;
}): string {
  const { x, barW, top, plotH, v, interval } = b;
  if (v === null)
    return `<text x="${fixed(x + barW / 2)}" y="${top + plotH - 4}" font-size="9" text-anchor="middle" fill="#666" ${FONT}>n/a<title>${escapeHtml(b.label)}</title></text>`;
  const h = plotH * v;
  let svg = `<rect x="${fixed(x + 1)}" y="${fixed(top + plotH - h)}" width="${fixed(barW - 2)}" height="${fixed(Math.max(h, 0.5))}" fill="${b.fill}"><title>${escapeHtml(b.label)}</title></rect>`;
  if (interval) svg += whiskerV(x + barW / 2, top, plotH, interval);
  return svg;
}

function whiskerV(x: number, top: number, plotH: number, interval: SummaryInterval): string {
  const y1 = top + plotH * (1 - interval.low);
  const y2 = top + plotH * (1 - interval.high);
  return (
    `<g stroke="#222" stroke-width="1.2"><line x1="${fixed(x)}" x2="${fixed(x)}" y1="${fixed(y1)}" y2="${fixed(y2)}"/>` +
    `<line x1="${fixed(x - 4)}" x2="${fixed(x + 4)}" y1="${fixed(y1)}" y2="${fixed(y1)}"/>` +
    `<line x1="${fixed(x - 4)}" x2="${fixed(x + 4)}" y1="${fixed(y2)}" y2="${fixed(y2)}"/></g>`
  );
}

/**
 * The oversight trade-off: approval rate (how often a person is asked) on x
 * against error-catch rate on y, one point per condition (policy), with both
 * 95% intervals as cross-hairs. Up and to the left is better.
 *
 * @example
 * const chart = renderTradeoffChart(summary);
 */
export function renderTradeoffChart(summary: ExperimentSummary): ReportChart {
  const conds = conditionsOf(summary);
  const width = 620;
  const height = 480;
  const left = 64;
  const top = 44;
  const plotW = width - left - 30;
  const plotH = height - top - 90;
  const sx = (v: number) => left + plotW * v;
  const sy = (v: number) => top + plotH * (1 - v);
  let grid = '';
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    grid +=
      `<line x1="${fixed(sx(t))}" x2="${fixed(sx(t))}" y1="${top}" y2="${top + plotH}" stroke="#eee"/>` +
      `<line x1="${left}" x2="${left + plotW}" y1="${fixed(sy(t))}" y2="${fixed(sy(t))}" stroke="#eee"/>` +
      `<text x="${fixed(sx(t))}" y="${top + plotH + 16}" font-size="11" text-anchor="middle" ${FONT}>${t * 100}%</text>` +
      `<text x="${left - 6}" y="${fixed(sy(t) + 4)}" font-size="11" text-anchor="end" ${FONT}>${t * 100}%</text>`;
  }
  let points = '';
  const missing: string[] = [];
  conds.forEach(([name, c], i) => {
    const x = c.approval_rate;
    const y = c.error_catch_rate;
    if (x === null || y === null) {
      missing.push(name);
      return;
    }
    const ix = c.intervals.approval_rate;
    const iy = c.intervals.error_catch_rate;
    const stroke = conditionColour(name, i);
    if (ix)
      points += `<line x1="${fixed(sx(ix.low))}" x2="${fixed(sx(ix.high))}" y1="${fixed(sy(y))}" y2="${fixed(sy(y))}" stroke="${stroke}" stroke-width="1.5"/>`;
    if (iy)
      points += `<line x1="${fixed(sx(x))}" x2="${fixed(sx(x))}" y1="${fixed(sy(iy.low))}" y2="${fixed(sy(iy.high))}" stroke="${stroke}" stroke-width="1.5"/>`;
    const title = `${name}: approval ${pct(x)}, error catch ${pct(y)}`;
    // Alternate labels above and below their points, but keep them inside
    // the plot: below the axis they would sit on the tick labels.
    let labelY = sy(y) - 9 + (i % 2) * 24;
    if (labelY > top + plotH - 6) labelY = sy(y) - 9;
    if (labelY < top + 12) labelY = sy(y) + 18;
    points +=
      `<circle cx="${fixed(sx(x))}" cy="${fixed(sy(y))}" r="6" fill="${stroke}" stroke="#fff" stroke-width="1.5"><title>${escapeHtml(title)}</title></circle>` +
      `<text x="${fixed(sx(x) + (x > 0.7 ? -9 : 9))}" y="${fixed(labelY)}" font-size="12" text-anchor="${x > 0.7 ? 'end' : 'start'}" ${FONT}>${escapeHtml(name)}</text>`;
  });
  const note = missing.length
    ? `<text x="${left}" y="${height - 14}" font-size="11" fill="#666" ${FONT}>Not plotted (no injected errors, so no catch rate): ${escapeHtml(missing.join(', '))}</text>`
    : '';
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Oversight trade-off: approval rate against error-catch rate">` +
    `<rect width="${width}" height="${height}" fill="#fff"/>` +
    `<text x="${left}" y="22" font-size="15" font-weight="600" ${FONT}>Oversight trade-off (95% intervals)</text>` +
    grid +
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>` +
    points +
    `<text x="${fixed(left + plotW / 2)}" y="${top + plotH + 36}" font-size="12" text-anchor="middle" ${FONT}>approval rate (share of actions a person reviewed)</text>` +
    `<text transform="translate(16,${fixed(top + plotH / 2)}) rotate(-90)" font-size="12" text-anchor="middle" ${FONT}>error-catch rate</text>` +
    legend(
      conds.map(([n]) => n),
      left,
      height - 48,
      3,
    ) +
    note +
    '</svg>';
  return { id: 'tradeoff', title: 'Oversight trade-off', svg, width, height };
}

/**
 * Reviewer time per condition: mean and p95 decision latency (seconds) with
 * bootstrap 95% intervals, as horizontal bars.
 *
 * @example
 * const chart = renderLatencyChart(summary);
 */
export function renderLatencyChart(summary: ExperimentSummary): ReportChart {
  const conds = conditionsOf(summary);
  const width = 820;
  const rowH = 46;
  const top = 44;
  const left = 170;
  const height = top + conds.length * rowH + 50;
  const plotW = width - left - 40;
  let max = 1;
  for (const [, c] of conds) {
    for (const v of [
      c.human_latency_p95_ms,
      c.intervals.human_latency_p95_ms?.high,
      c.intervals.human_latency_mean_ms?.high,
    ])
      if (typeof v === 'number') max = Math.max(max, v / 1000);
  }
  // Round the axis up to a nice step, and leave room on the right for labels.
  const step = niceStep(max / 4);
  max = step * Math.ceil((max * 1.15) / step);
  const sx = (seconds: number) => left + (plotW * seconds) / max;
  let rows = '';
  conds.forEach(([name, c], i) => {
    const y = top + i * rowH;
    rows += `<text x="${left - 8}" y="${y + 20}" font-size="12" text-anchor="end" ${FONT}>${escapeHtml(name)}</text>`;
    const series: Array<[string, number | null, SummaryInterval | null | undefined, number]> = [
      ['mean', c.human_latency_mean_ms, c.intervals.human_latency_mean_ms, 1],
      ['p95', c.human_latency_p95_ms, c.intervals.human_latency_p95_ms, 0.45],
    ];
    series.forEach(([label, v, interval, opacity], j) => {
      const by = y + 4 + j * 18;
      if (v === null) {
        if (j === 0)
          rows += `<text x="${left + 4}" y="${by + 12}" font-size="11" fill="#666" ${FONT}>no reviews</text>`;
        return;
      }
      const title = `${name} ${label}: ${(v / 1000).toFixed(1)} s${interval ? ` (95% CI ${(interval.low / 1000).toFixed(1)}–${(interval.high / 1000).toFixed(1)} s)` : ''}`;
      rows += `<rect x="${left}" y="${by}" width="${fixed(Math.max(1, sx(v / 1000) - left))}" height="14" fill="${conditionColour(name, i)}" fill-opacity="${opacity}"><title>${escapeHtml(title)}</title></rect>`;
      const labelX = Math.max(sx(v / 1000), interval ? sx(interval.high / 1000) : 0) + 5;
      rows += `<text x="${fixed(labelX)}" y="${by + 11}" font-size="10" ${FONT}>${escapeHtml(`${label} ${(v / 1000).toFixed(1)} s`)}</text>`;
      if (interval) {
        const x1 = sx(interval.low / 1000);
        const x2 = sx(interval.high / 1000);
        rows += `<line x1="${fixed(x1)}" x2="${fixed(x2)}" y1="${by + 7}" y2="${by + 7}" stroke="#222"/><line x1="${fixed(x1)}" x2="${fixed(x1)}" y1="${by + 3}" y2="${by + 11}" stroke="#222"/><line x1="${fixed(x2)}" x2="${fixed(x2)}" y1="${by + 3}" y2="${by + 11}" stroke="#222"/>`;
      }
    });
  });
  const axisY = top + conds.length * rowH + 6;
  let axis = `<line x1="${left}" x2="${left + plotW}" y1="${axisY}" y2="${axisY}" stroke="#999"/>`;
  for (let s = 0; s <= max + 1e-9; s += step) {
    axis += `<text x="${fixed(sx(s))}" y="${axisY + 16}" font-size="11" text-anchor="middle" ${FONT}>${escapeHtml(`${Number(s.toFixed(2))} s`)}</text>`;
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Reviewer decision time per condition">` +
    `<rect width="${width}" height="${height}" fill="#fff"/>` +
    `<text x="20" y="22" font-size="15" font-weight="600" ${FONT}>Reviewer decision time: mean and p95, bootstrap 95% intervals</text>` +
    rows +
    axis +
    '</svg>';
  return { id: 'latency', title: 'Reviewer decision time', svg, width, height };
}

/** The smallest of 1, 2 or 5 times a power of ten that is at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/**
 * Grouped bars with 95% whiskers: one group per label, one bar per series.
 * The shared drawing of the per-error-type and the per-scenario charts.
 */
function groupedBars(options: {
  id: string;
  title: string;
  heading: string;
  groups: readonly string[];
  series: readonly string[];
  /** Undefined: the series is absent from the group (no bar, no gap). */
  value: (
    group: string,
    series: string,
  ) => { v: number | null; interval: SummaryInterval | null } | undefined;
  describe: (group: string, series: string, v: number | null) => string;
}): ReportChart {
  const { groups, series } = options;
  const width = Math.max(620, Math.min(1100, 120 + groups.length * (series.length * 22 + 40)));
  const height = 380;
  const left = 56;
  const top = 48;
  const plotW = width - left - 20;
  const plotH = height - top - 78;
  const groupW = plotW / Math.max(1, groups.length);
  const barW = Math.min(28, (groupW - 16) / Math.max(1, series.length));
  let bars = '';
  groups.forEach((group, g) => {
    const present = series.flatMap((name, i) => {
      const value = options.value(group, name);
      return value ? [{ name, i, ...value }] : [];
    });
    const gx = left + g * groupW + (groupW - barW * present.length) / 2;
    present.forEach(({ name, i, v, interval }, slot) => {
      const x = gx + slot * barW;
      const label = options.describe(group, name, v);
      bars += barSvg({ x, barW, top, plotH, v, interval, fill: conditionColour(name, i), label });
    });
    bars += `<text x="${fixed(left + g * groupW + groupW / 2)}" y="${top + plotH + 18}" font-size="12" text-anchor="middle" ${FONT}>${escapeHtml(group)}</text>`;
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">` +
    `<rect width="${width}" height="${height}" fill="#fff"/>` +
    `<text x="${left}" y="22" font-size="15" font-weight="600" ${FONT}>${escapeHtml(options.heading)}</text>` +
    yAxis(left, top, plotH, plotW) +
    bars +
    legend(series, left, height - 34) +
    '</svg>';
  return { id: options.id, title: options.title, svg, width, height };
}

/**
 * Per error type: the share of planted mistakes of that kind each condition
 * caught (bars, 95% Wilson whiskers). Null when nothing was injected.
 *
 * @example
 * const chart = renderErrorTypeChart(summary); // null without injections
 */
export function renderErrorTypeChart(summary: ExperimentSummary): ReportChart | null {
  const conds = conditionsOf(summary);
  const types: string[] = [];
  for (const [, c] of conds) {
    for (const type of Object.keys(c.by_error_type)) if (!types.includes(type)) types.push(type);
  }
  if (types.length === 0) return null;
  const byName = new Map(conds);
  return groupedBars({
    id: 'error-types',
    title: 'Catch rate per error type',
    heading: 'Share of planted mistakes caught, per error type and condition (95% Wilson)',
    groups: types,
    series: conds.map(([name]) => name),
    value: (type, name) => {
      const t = byName.get(name)?.by_error_type[type];
      return { v: t?.error_catch_rate ?? null, interval: t?.intervals.error_catch_rate ?? null };
    },
    describe: (type, name, v) => {
      const t = byName.get(name)?.by_error_type[type];
      return `${name}, ${type}: caught ${pct(v)} of ${t?.n_injected ?? 0} planted; harm ${pct(t?.harm_rate ?? null)} of trials`;
    },
  });
}

/**
 * One report section: an experiment's summary, its charts, and the label its
 * heading shows (the scenario, or the directory when two share a scenario).
 *
 * @example
 * const section: ReportSection = { label: 'email_draft', summary, charts: renderReportCharts(summary) };
 */
export interface ReportSection {
  label: string;
  summary: ExperimentSummary;
  charts: ReportChart[];
}

/**
 * Across sections (scenarios): each condition's harm rate, the share of
 * trials in which a planted mistake ran, with 95% Wilson whiskers.
 *
 * @example
 * const chart = renderScenarioComparisonChart(sections);
 */
export function renderScenarioComparisonChart(
  sections: ReadonlyArray<Pick<ReportSection, 'label' | 'summary'>>,
): ReportChart {
  const names: string[] = [];
  for (const { summary } of sections)
    for (const name of summary.condition_order) if (!names.includes(name)) names.push(name);
  const byLabel = new Map(sections.map((s) => [s.label, s.summary]));
  return groupedBars({
    id: 'scenarios-harm',
    title: 'Harm rate per scenario',
    heading: 'Harm: share of trials in which a planted mistake ran (95% Wilson)',
    groups: sections.map((s) => s.label),
    series: names,
    value: (label, name) => {
      const c = byLabel.get(label)?.conditions[name];
      return c ? { v: c.harm_rate, interval: c.intervals.harm_rate ?? null } : undefined;
    },
    describe: (label, name, v) => `${label}, ${name}: harm ${pct(v)}`,
  });
}

/**
 * All charts of the report, in display order: rates, trade-off, latency, and
 * (when mistakes were planted) catch rate per error type.
 *
 * @example
 * for (const chart of renderReportCharts(summary)) writeFileSync(`${chart.id}.svg`, chart.svg);
 */
export function renderReportCharts(summary: ExperimentSummary): ReportChart[] {
  const byType = renderErrorTypeChart(summary);
  return [
    renderRatesChart(summary),
    renderTradeoffChart(summary),
    renderLatencyChart(summary),
    ...(byType ? [byType] : []),
  ];
}

/**
 * Writes each chart as a standalone `<dir>/<chart.id>.svg` (the same SVG the
 * report embeds); returns the paths.
 *
 * @example
 * writeChartSvgs(renderReportCharts(summary), 'out/charts') // ['out/charts/rates.svg', ...]
 */
export function writeChartSvgs(charts: readonly ReportChart[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return charts.map((chart) => {
    const file = join(dir, `${chart.id}.svg`);
    writeFileAtomic(file, `<?xml version="1.0" encoding="UTF-8"?>\n${chart.svg}\n`);
    return file;
  });
}

/**
 * Options for {@link renderReportHtml}.
 *
 * @example
 * renderReportHtml(summary, { pngNote: 'PNG copies: charts/rates.png' });
 */
export interface ReportHtmlOptions {
  /** Charts to embed (default: {@link renderReportCharts}). */
  charts?: ReportChart[];
  /** A line about the chart files: where the SVG and PNG copies are, or why PNGs were skipped. */
  pngNote?: string;
}

function intervalText(interval: SummaryInterval | null | undefined, format: (v: number) => string) {
  return interval ? `${format(interval.low)} – ${format(interval.high)}` : '–';
}

const REVIEWER_KINDS: Record<string, string> = {
  simulated: 'simulated, coin flip (the baseline)',
  card: 'simulated, sees only the approval card',
  cli: 'people at a terminal (live)',
  hub: 'people through the approval hub (live)',
};

function num(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v);
}

/**
 * The reviewer's settings as readable rows: known keys in words, anything
 * else as `key.path = value`, so a setting a later version adds still shows.
 */
function reviewerRows(reviewer: Record<string, unknown>): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  const rest: Record<string, unknown> = { ...reviewer };
  const take = (key: string): unknown => {
    const v = rest[key];
    delete rest[key];
    return v;
  };
  const kind = take('kind');
  rows.push([
    'Reviewer',
    kind === undefined ? 'n/a' : (REVIEWER_KINDS[String(kind)] ?? String(kind)),
  ]);
  const sensitivity = take('sensitivity');
  const specificity = take('specificity');
  if (sensitivity !== undefined || specificity !== undefined) {
    rows.push([
      'Sensitivity / specificity',
      `${num(sensitivity ?? 'n/a')} / ${num(specificity ?? 'n/a')}`,
    ]);
  }
  const latency = take('latency') as { medianMs?: unknown; sigma?: unknown } | undefined;
  if (latency && typeof latency === 'object') {
    const { medianMs, sigma, ...other } = latency;
    rows.push([
      'Decision time',
      `median ${typeof medianMs === 'number' ? `${(medianMs / 1000).toFixed(1)} s` : 'n/a'}, lognormal sigma ${num(sigma ?? 'n/a')}`,
    ]);
    Object.assign(rest, prefixed('latency', other));
  }
  const fatigue = take('fatigue') as { decayPerApproval?: unknown; floor?: unknown } | undefined;
  if (fatigue && typeof fatigue === 'object') {
    const { decayPerApproval, floor, ...other } = fatigue;
    rows.push([
      'Fatigue',
      `${typeof decayPerApproval === 'number' ? `${num(decayPerApproval * 100)}%` : 'n/a'} of the margin lost per approval in a row, floor ${num(floor ?? 'n/a')}`,
    ]);
    Object.assign(rest, prefixed('fatigue', other));
  }
  const card = take('card') as Record<string, unknown> | undefined;
  if (card && typeof card === 'object') {
    const {
      skimmedFieldWeight,
      positionHalfLifeLines,
      lengthScaleChars,
      foldedWeight,
      readFields,
      shortFieldChars,
      ...other
    } = card;
    rows.push(
      [
        'Card visibility',
        `skimmed fields ×${num(skimmedFieldWeight)}, attention halves every ${num(positionHalfLifeLines)} lines, length scale ${num(lengthScaleChars)} chars, past the first page ×${num(foldedWeight)}`,
      ],
      [
        'Fields read',
        `${Array.isArray(readFields) ? readFields.join(', ') : 'n/a'}, any *_id, any one-line value ≤ ${num(shortFieldChars)} chars`,
      ],
    );
    Object.assign(rest, prefixed('card', other));
  }
  for (const [key, value] of Object.entries(flatten(rest))) rows.push([key, value]);
  return rows;
}

function prefixed(prefix: string, value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [`${prefix}.${k}`, v]));
}

function flatten(value: Record<string, unknown>, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = `${prefix}${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, flatten(v as Record<string, unknown>, `${key}.`));
    else out[key] = Array.isArray(v) ? v.map(num).join(', ') : num(v);
  }
  return out;
}

/**
 * The experiments' settings as rows of [setting, value per section]: one
 * column per section, so settings that differ between scenarios stand side
 * by side.
 *
 * @example
 * settingsRows([summary])[0] // ['Scenario', ['email_draft']]
 */
export function settingsRows(summaries: readonly ExperimentSummary[]): Array<[string, string[]]> {
  const perSummary = summaries.map((s) => {
    const rows: Array<[string, string]> = [
      ['Scenario', s.scenario],
      ['Seed', String(s.seed)],
      ['Trials per condition', String(s.n_trials)],
      ['Injection rate', `${num(s.injection_rate * 100)}% of trials get a planted mistake`],
      ['Error types', s.error_types.join(', ')],
      ['Conditions', s.condition_order.join(', ')],
      ...reviewerRows(s.reviewer),
      ['Bootstrap resamples', String(s.bootstrap_resamples)],
    ];
    return new Map(rows);
  });
  const names: string[] = [];
  for (const m of perSummary) for (const k of m.keys()) if (!names.includes(k)) names.push(k);
  return names.map((name) => [name, perSummary.map((m) => m.get(name) ?? '–')]);
}

function settingsTable(sections: readonly ReportSection[]): string {
  const rows = settingsRows(sections.map((s) => s.summary));
  const head =
    sections.length > 1
      ? `<thead><tr><th>setting</th>${sections.map((s) => `<th>${escapeHtml(s.label)}</th>`).join('')}</tr></thead>\n`
      : '';
  const body = rows
    .map(
      ([name, values]) =>
        `<tr><th scope="row">${escapeHtml(name)}</th>${values.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="settings" aria-label="Experiment settings">\n${head}<tbody>\n${body}\n</tbody>\n</table>`;
}

function metricsTable(conds: Array<[string, ConditionSummary]>): string {
  const rows = conds
    .map(([name, c], i) => {
      const cells: string[] = [
        `<th scope="row"><span class="dot" style="background:${conditionColour(name, i)}"></span>${escapeHtml(name)}<div class="sub">${escapeHtml(c.policy_name)}</div></th>`,
        `<td>${c.n_trials}</td><td>${c.n_injected}</td>`,
      ];
      for (const metric of RATE_METRICS) {
        cells.push(
          `<td>${escapeHtml(pct(c[metric]))}<div class="sub">${escapeHtml(intervalText(c.intervals[metric], pct))}</div></td>`,
        );
      }
      const sec = (v: number) => `${(v / 1000).toFixed(1)} s`;
      for (const metric of ['human_latency_mean_ms', 'human_latency_p95_ms'] as const) {
        const v = c[metric];
        cells.push(
          `<td>${escapeHtml(v === null ? 'n/a' : sec(v))}<div class="sub">${escapeHtml(intervalText(c.intervals[metric], sec))}</div></td>`,
        );
      }
      const cost = c.reviewer_seconds_per_trial;
      cells.push(
        `<td>${escapeHtml(cost === null ? 'n/a' : `${cost.toFixed(2)} s`)}<div class="sub">${escapeHtml(intervalText(c.intervals.reviewer_seconds_per_trial, (v) => `${v.toFixed(2)} s`))}</div></td>`,
      );
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<table class="metrics">
<thead><tr><th>condition</th><th>trials</th><th>injected</th><th>success</th><th>completion</th><th>harm</th><th>approval</th><th>error catch</th><th>false reject</th><th>tool failure</th><th>latency mean</th><th>latency p95</th><th>reviewer s / trial</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}

function figures(charts: readonly ReportChart[]): string {
  return charts
    .map(
      (chart) =>
        `<figure id="chart-${escapeHtml(chart.id)}"><figcaption>${escapeHtml(chart.title)}</figcaption>${chart.svg}</figure>`,
    )
    .join('\n');
}

function sectionHtml(section: ReportSection, level: 'h2' | 'h3', multi: boolean): string {
  const conds = conditionsOf(section.summary);
  const descriptions = conds
    .map(([name, c]) => `<li><b>${escapeHtml(name)}</b>: ${escapeHtml(c.description)}</li>`)
    .join('');
  const byType = errorTypeTable(conds);
  const sub = level;
  return `${multi ? `<section class="scenario" id="section-${escapeHtml(section.label.replace(/[^A-Za-z0-9_-]+/g, '-'))}">\n<h2>${escapeHtml(section.label)}</h2>\n` : ''}<ul>${descriptions}</ul>
${figures(section.charts)}
<${sub}>All metrics (value, 95% interval below)</${sub}>
${metricsTable(conds)}
<p class="note">Rates: Wilson score intervals. Latency and cost: seeded percentile bootstrap. Definitions: docs/experiments.md in the hitloop repository. n/a: undefined (e.g. no injected errors, or no reviews). Success: the trial ended correctly (the right action did the task, or a planted mistake was stopped); completion: the task got done; harm: a planted mistake ran.</p>
${multi ? byType.replace('<h2>Per error type</h2>', '<h3>Per error type</h3>') : byType}${multi ? '\n</section>' : ''}`;
}

/**
 * A self-contained HTML report of one experiment: a settings table, inline
 * SVG charts and CSS, no scripts, no external requests (a CSP forbids them),
 * every inserted text escaped.
 *
 * @example
 * writeFileSync('out/report.html', renderReportHtml(readSummary('out')));
 */
export function renderReportHtml(
  summary: ExperimentSummary,
  options: ReportHtmlOptions = {},
): string {
  return renderMultiReportHtml(
    [{ label: summary.scenario, summary, charts: options.charts ?? renderReportCharts(summary) }],
    options.pngNote === undefined ? {} : { pngNote: options.pngNote },
  );
}

/**
 * One report over several experiments (scenarios, or one scenario's runs
 * side by side): a settings table with a column per section, a chart
 * comparing harm across sections, then each section's charts and tables.
 * With a single section it is exactly {@link renderReportHtml}. Chart ids
 * must be unique across sections (prefix them, e.g. `email_draft-rates`).
 *
 * @example
 * const sections = ['out/email', 'out/crm'].map((dir) => { const summary = readSummary(dir); return { label: summary.scenario, summary, charts: renderReportCharts(summary) }; });
 * writeFileSync('report.html', renderMultiReportHtml(sections));
 */
export function renderMultiReportHtml(
  sections: readonly ReportSection[],
  options: { pngNote?: string; comparison?: ReportChart } = {},
): string {
  if (sections.length === 0) throw new RangeError('a report needs at least one experiment');
  const multi = sections.length > 1;
  const first = sections[0]!;
  const title = multi
    ? `hitloop experiments: ${sections.map((s) => s.label).join(', ')}`
    : `hitloop experiment: ${first.summary.scenario}`;
  const comparison = multi
    ? `<h2>Across scenarios</h2>\n${figures([options.comparison ?? renderScenarioComparisonChart(sections)])}\n`
    : '';
  const body = sections.map((s) => sectionHtml(s, multi ? 'h3' : 'h2', multi)).join('\n');
  return reportPage({
    title,
    maxWidthPx: 1100,
    style: `table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .35rem .5rem; text-align: right; vertical-align: top; }
th[scope=row], thead th:first-child { text-align: left; }
table.settings { width: auto; min-width: 50%; margin: 1rem 0; } table.settings td, table.settings thead th { text-align: left; } table.settings th[scope=row] { color: #444; font-weight: 600; white-space: nowrap; }
section.scenario { border-top: 2px solid #ccc; margin-top: 2.5rem; }
.sub { color: #666; font-size: .75rem; } .dot { display: inline-block; width: .7rem; height: .7rem; margin-right: .4rem; border-radius: 2px; }
.note { color: #555; font-size: .85rem; }`,
    body: `<h1>${escapeHtml(title)}</h1>
${settingsTable(sections)}
${comparison}${body}
${options.pngNote ? `<p class="note">${escapeHtml(options.pngNote)}</p>` : ''}`,
  });
}
