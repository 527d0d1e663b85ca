import { escapeHtml } from '../util/escape-html.js';
import type { ConditionSummary, ExperimentSummary, SummaryInterval } from './export.js';
import { RATE_METRICS, type RateMetric } from './metrics.js';

// Every piece of text that reaches the report goes through escapeHtml:
// condition names and descriptions come from a file a person may have edited.

/**
 * One chart of the report: an inline SVG document and its size.
 *
 * @example
 * const [rates] = renderReportCharts(summary); rates.svg.startsWith('<svg') // true
 */
export interface ReportChart {
  id: 'rates' | 'tradeoff' | 'latency';
  title: string;
  svg: string;
  width: number;
  height: number;
}

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442'];
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

function colour(i: number): string {
  return PALETTE[i % PALETTE.length]!;
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
        `<g transform="translate(${x + (i % perRow) * 170},${y + Math.floor(i / perRow) * 18})"><rect width="12" height="12" fill="${colour(i)}"/>` +
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
      if (v === null) {
        bars += `<text x="${fixed(x + barW / 2)}" y="${top + plotH - 4}" font-size="9" text-anchor="middle" fill="#666" ${FONT}>n/a<title>${escapeHtml(label)}</title></text>`;
        return;
      }
      const h = plotH * v;
      bars += `<rect x="${fixed(x + 1)}" y="${fixed(top + plotH - h)}" width="${fixed(barW - 2)}" height="${fixed(Math.max(h, 0.5))}" fill="${colour(i)}"><title>${escapeHtml(label)}</title></rect>`;
      if (interval) bars += whiskerV(x + barW / 2, top, plotH, interval);
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
    const stroke = colour(i);
    if (ix)
      points += `<line x1="${fixed(sx(ix.low))}" x2="${fixed(sx(ix.high))}" y1="${fixed(sy(y))}" y2="${fixed(sy(y))}" stroke="${stroke}" stroke-width="1.5"/>`;
    if (iy)
      points += `<line x1="${fixed(sx(x))}" x2="${fixed(sx(x))}" y1="${fixed(sy(iy.low))}" y2="${fixed(sy(iy.high))}" stroke="${stroke}" stroke-width="1.5"/>`;
    const title = `${name}: approval ${pct(x)}, error catch ${pct(y)}`;
    points +=
      `<circle cx="${fixed(sx(x))}" cy="${fixed(sy(y))}" r="6" fill="${stroke}" stroke="#fff" stroke-width="1.5"><title>${escapeHtml(title)}</title></circle>` +
      `<text x="${fixed(sx(x) + (x > 0.7 ? -9 : 9))}" y="${fixed(sy(y) - 9 + (i % 2) * 24)}" font-size="12" text-anchor="${x > 0.7 ? 'end' : 'start'}" ${FONT}>${escapeHtml(name)}</text>`;
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
      rows += `<rect x="${left}" y="${by}" width="${fixed(Math.max(1, sx(v / 1000) - left))}" height="14" fill="${colour(i)}" fill-opacity="${opacity}"><title>${escapeHtml(title)}</title></rect>`;
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
 * All charts of the report, in display order.
 *
 * @example
 * for (const chart of renderReportCharts(summary)) writeFileSync(`${chart.id}.svg`, chart.svg);
 */
export function renderReportCharts(summary: ExperimentSummary): ReportChart[] {
  return [renderRatesChart(summary), renderTradeoffChart(summary), renderLatencyChart(summary)];
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
  /** A line about the PNG copies: where they are, or why they were skipped. */
  pngNote?: string;
}

function intervalText(interval: SummaryInterval | null | undefined, format: (v: number) => string) {
  return interval ? `${format(interval.low)} – ${format(interval.high)}` : '–';
}

/**
 * A self-contained HTML report: inline SVG charts and CSS, no scripts, no
 * external requests (a CSP forbids them), every inserted text escaped.
 *
 * @example
 * writeFileSync('out/report.html', renderReportHtml(readSummary('out')));
 */
export function renderReportHtml(
  summary: ExperimentSummary,
  options: ReportHtmlOptions = {},
): string {
  const charts = options.charts ?? renderReportCharts(summary);
  const conds = conditionsOf(summary);
  const reviewer = Object.entries(summary.reviewer)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
  const rows = conds
    .map(([name, c], i) => {
      const cells: string[] = [
        `<th scope="row"><span class="dot" style="background:${colour(i)}"></span>${escapeHtml(name)}<div class="sub">${escapeHtml(c.policy_name)}</div></th>`,
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
  const descriptions = conds
    .map(([name, c]) => `<li><b>${escapeHtml(name)}</b>: ${escapeHtml(c.description)}</li>`)
    .join('');
  const byType = errorTypeTable(conds);
  const figures = charts
    .map(
      (chart) =>
        `<figure id="chart-${chart.id}"><figcaption>${escapeHtml(chart.title)}</figcaption>${chart.svg}</figure>`,
    )
    .join('\n');
  const title = `hitloop experiment: ${summary.scenario}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1a1a1a; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #444; } figure { margin: 1.5rem 0; } figcaption { font-weight: 600; margin-bottom: .5rem; }
svg { max-width: 100%; height: auto; border: 1px solid #e5e5e5; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .35rem .5rem; text-align: right; vertical-align: top; }
th[scope=row], thead th:first-child { text-align: left; }
.sub { color: #666; font-size: .75rem; } .dot { display: inline-block; width: .7rem; height: .7rem; margin-right: .4rem; border-radius: 2px; }
.note { color: #555; font-size: .85rem; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">seed ${escapeHtml(summary.seed)} · ${escapeHtml(summary.n_trials)} trials per condition · injection rate ${escapeHtml(summary.injection_rate)} · error types ${escapeHtml(summary.error_types.join(', '))}<br>reviewer: ${escapeHtml(reviewer)} · bootstrap resamples ${escapeHtml(summary.bootstrap_resamples)}</p>
<ul>${descriptions}</ul>
${figures}
<h2>All metrics (value, 95% interval below)</h2>
<table>
<thead><tr><th>condition</th><th>trials</th><th>injected</th><th>success</th><th>completion</th><th>harm</th><th>approval</th><th>error catch</th><th>false reject</th><th>tool failure</th><th>latency mean</th><th>latency p95</th><th>reviewer s / trial</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p class="note">Rates: Wilson score intervals. Latency and cost: seeded percentile bootstrap. Definitions: docs/experiments.md in the hitloop repository. n/a: undefined (e.g. no injected errors, or no reviews). Success: the trial ended correctly (the right action did the task, or a planted mistake was stopped); completion: the task got done; harm: a planted mistake ran.</p>
${byType}
${options.pngNote ? `<p class="note">${escapeHtml(options.pngNote)}</p>` : ''}
</body>
</html>
`;
}
