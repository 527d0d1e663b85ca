import { escapeHtml } from '../../util/escape-html.js';
import { conditionColour, type ReportChart } from '../report.js';
import { reportPage } from '../report-page.js';
import type { CellResult, ConditionRow, RateSummary, SweepMetric } from './aggregate.js';
import { type SweepGrid, sweepTrialCount } from './grid.js';

const MARKERS = ['circle', 'square', 'diamond', 'triangle'] as const;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

const fixed = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`;
const range = (r: readonly [number, number] | null) => (r ? `${pct(r[0])} – ${pct(r[1])}` : '–');

/** A marker per condition as well as a colour, so the curves survive greyscale printing. */
function marker(i: number, x: number, y: number, fill: string, title: string): string {
  const shape = MARKERS[i % MARKERS.length]!;
  const t = `<title>${escapeHtml(title)}</title>`;
  const style = `fill="${fill}" stroke="#fff" stroke-width="1.2"`;
  switch (shape) {
    case 'circle':
      return `<circle cx="${fixed(x)}" cy="${fixed(y)}" r="5" ${style}>${t}</circle>`;
    case 'square':
      return `<rect x="${fixed(x - 4.5)}" y="${fixed(y - 4.5)}" width="9" height="9" ${style}>${t}</rect>`;
    case 'diamond':
      return `<path d="M${fixed(x)} ${fixed(y - 6)}L${fixed(x + 6)} ${fixed(y)}L${fixed(x)} ${fixed(y + 6)}L${fixed(x - 6)} ${fixed(y)}Z" ${style}>${t}</path>`;
    case 'triangle':
      return `<path d="M${fixed(x)} ${fixed(y - 6)}L${fixed(x + 6)} ${fixed(y + 5)}L${fixed(x - 6)} ${fixed(y + 5)}Z" ${style}>${t}</path>`;
  }
}

/** The smallest of 1, 2 or 5 times a power of ten at or above `v`. */
function niceStep(v: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(v, 1e-9)));
  for (const m of [1, 2, 5, 10]) if (m * power >= v - 1e-12) return m * power;
  return 10 * power;
}

/** Cells grouped into panels: one per scenario and reviewer setting, injection rates within. */
function panelsOf(cells: readonly CellResult[]): CellResult[][] {
  const panels = new Map<string, CellResult[]>();
  for (const c of cells) {
    const { scenario, sensitivity, specificity, fatigue } = c.cell;
    const key = JSON.stringify([scenario, sensitivity, specificity, fatigue]);
    const list = panels.get(key);
    if (list) list.push(c);
    else panels.set(key, [c]);
  }
  return [...panels.values()].map((list) =>
    [...list].sort((a, b) => a.cell.injectionRate - b.cell.injectionRate),
  );
}

function panelTitle(cell: CellResult['cell'], scenarios: number): string {
  const head = scenarios > 1 ? `${cell.scenario} · ` : '';
  return `${head}sensitivity ${cell.sensitivity} · specificity ${cell.specificity} · fatigue ${cell.fatigue}`;
}

/**
 * The sweep's trade-off curves: approval rate (how often a person is asked:
 * the human burden) on x against harm rate (trials where a planted mistake
 * ran) on y. One curve per condition (policy), through one point per
 * injection rate (labelled), with 95% Wilson intervals as light whiskers;
 * one panel per scenario and reviewer setting, all on the same axes. Down is
 * safer, left is cheaper.
 *
 * @example
 * const chart = renderSweepTradeoffChart(aggregateSweep(grid, units));
 * chart.svg.startsWith('<svg') // true
 */
export function renderSweepTradeoffChart(cells: readonly CellResult[]): ReportChart {
  const panels = panelsOf(cells);
  const names = cells[0]?.pooled.map((r) => r.condition) ?? [];
  const scenarios = new Set(cells.map((c) => c.cell.scenario)).size;
  const cols = Math.max(1, Math.min(3, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const panelW = 380;
  const panelH = 320;
  const top = 40;
  const legendH = 24 * Math.ceil(names.length / 4) + 16;
  const width = cols * panelW + 20;
  const height = top + rows * panelH + legendH;
  // One y scale for every panel, so panels compare at a glance: up to the
  // highest harm interval, in round steps.
  let highest = 0.05;
  for (const c of cells)
    for (const r of c.pooled) highest = Math.max(highest, r.metrics.harm.wilson?.[1] ?? 0);
  const yStep = niceStep(highest / 5);
  const yMax = Math.min(1, yStep * Math.ceil(highest / yStep - 1e-9));
  const yTicks: number[] = [];
  for (let k = 0; k * yStep <= yMax + 1e-9; k++) yTicks.push(k * yStep);
  let body = '';
  panels.forEach((panel, p) => {
    const ox = 10 + (p % cols) * panelW;
    const oy = top + Math.floor(p / cols) * panelH;
    const left = ox + 56;
    const plotTop = oy + 28;
    const plotW = panelW - 56 - 20;
    const plotH = panelH - 28 - 52;
    const sx = (v: number) => left + plotW * v;
    const sy = (v: number) => plotTop + plotH * (1 - v / yMax);
    body += `<text x="${left}" y="${oy + 16}" font-size="12" font-weight="600" ${FONT}>${escapeHtml(panelTitle(panel[0]!.cell, scenarios))}</text>`;
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      body +=
        `<line x1="${fixed(sx(t))}" x2="${fixed(sx(t))}" y1="${plotTop}" y2="${plotTop + plotH}" stroke="#eee"/>` +
        `<text x="${fixed(sx(t))}" y="${plotTop + plotH + 14}" font-size="10" text-anchor="middle" ${FONT}>${t * 100}%</text>`;
    }
    for (const yv of yTicks) {
      body +=
        `<line x1="${left}" x2="${left + plotW}" y1="${fixed(sy(yv))}" y2="${fixed(sy(yv))}" stroke="#eee"/>` +
        `<text x="${left - 5}" y="${fixed(sy(yv) + 3)}" font-size="10" text-anchor="end" ${FONT}>${escapeHtml(`${Number((yv * 100).toFixed(1))}%`)}</text>`;
    }
    body += `<rect x="${left}" y="${plotTop}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`;
    body += `<text x="${fixed(left + plotW / 2)}" y="${plotTop + plotH + 30}" font-size="11" text-anchor="middle" ${FONT}>approval rate (human burden)</text>`;
    body += `<text transform="translate(${ox + 14},${fixed(plotTop + plotH / 2)}) rotate(-90)" font-size="11" text-anchor="middle" ${FONT}>harm rate</text>`;
    // Injection-rate labels go where they overlap no earlier label; a point
    // left unlabelled still names its rate in its tooltip.
    const placed: Array<[number, number, number, number]> = [];
    const label = (x: number, y: number, text: string, right: boolean): string => {
      const w = text.length * 5;
      const box: [number, number, number, number] = right
        ? [x, y - 9, x + w, y + 2]
        : [x - w, y - 9, x, y + 2];
      if (placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]))
        return '';
      placed.push(box);
      return `<text x="${fixed(x)}" y="${fixed(y)}" font-size="9" fill="#555" text-anchor="${right ? 'start' : 'end'}" ${FONT}>${escapeHtml(text)}</text>`;
    };
    names.forEach((name, i) => {
      const points = panel
        .map((c) => ({ rate: c.cell.injectionRate, row: c.pooled[i]! }))
        .filter((pt) => pt.row.metrics.approval.rate !== null && pt.row.metrics.harm.rate !== null);
      if (points.length === 0) return;
      const stroke = conditionColour(name, i);
      const path = points
        .map(
          (pt, k) =>
            `${k ? 'L' : 'M'}${fixed(sx(pt.row.metrics.approval.rate!))} ${fixed(sy(pt.row.metrics.harm.rate!))}`,
        )
        .join('');
      body += `<path d="${path}" fill="none" stroke="${stroke}" stroke-width="1.8"/>`;
      for (const pt of points) {
        const x = pt.row.metrics.approval.rate!;
        const y = pt.row.metrics.harm.rate!;
        const wx = pt.row.metrics.approval.wilson;
        const wy = pt.row.metrics.harm.wilson;
        if (wx)
          body += `<line x1="${fixed(sx(wx[0]))}" x2="${fixed(sx(wx[1]))}" y1="${fixed(sy(y))}" y2="${fixed(sy(y))}" stroke="${stroke}" stroke-opacity="0.45"/>`;
        if (wy)
          body += `<line x1="${fixed(sx(x))}" x2="${fixed(sx(x))}" y1="${fixed(sy(wy[0]))}" y2="${fixed(sy(wy[1]))}" stroke="${stroke}" stroke-opacity="0.45"/>`;
        const title = `${name}, injection rate ${pct(pt.rate)}: approval ${pct(x)} (95% CI ${range(wx)}), harm ${pct(y)} (95% CI ${range(wy)})`;
        body += marker(i, sx(x), sy(y), stroke, title);
        const right = x < 0.8;
        body += label(
          sx(x) + (right ? 8 : -8),
          sy(y) - 5,
          `inj ${Number((pt.rate * 100).toFixed(1))}%`,
          right,
        );
      }
    });
  });
  const legendY = top + rows * panelH + 8;
  names.forEach((name, i) => {
    const x = 66 + (i % 4) * 220;
    const y = legendY + Math.floor(i / 4) * 24;
    body +=
      `<line x1="${x - 14}" x2="${x + 14}" y1="${y + 6}" y2="${y + 6}" stroke="${conditionColour(name, i)}" stroke-width="1.8"/>` +
      marker(i, x, y + 6, conditionColour(name, i), name) +
      `<text x="${x + 20}" y="${y + 10}" font-size="12" ${FONT}>${escapeHtml(name)}</text>`;
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Sweep trade-off: approval rate against harm rate, one curve per condition">` +
    `<rect width="${width}" height="${height}" fill="#fff"/>` +
    `<text x="20" y="24" font-size="15" font-weight="600" ${FONT}>Human burden against harm: one curve per condition, a point per injection rate (95% Wilson whiskers)</text>` +
    body +
    '</svg>';
  return {
    id: 'tradeoff',
    title: 'Trade-off curves: approval rate against harm rate',
    svg,
    width,
    height,
  };
}

const TABLE_METRICS: Array<[SweepMetric, string]> = [
  ['harm', 'harm'],
  ['approval', 'approval'],
  ['error_catch', 'error catch'],
  ['completion', 'completion'],
  ['false_reject', 'false reject'],
  ['success', 'success'],
];

function rateCell(r: RateSummary): string {
  return (
    `<td>${escapeHtml(pct(r.rate))}<div class="sub">${escapeHtml(`Wilson ${range(r.wilson)}`)}</div>` +
    `<div class="sub">${escapeHtml(`seeds ${pct(r.seedMean)} (${range(r.seedInterval)})`)}</div></td>`
  );
}

function conditionTable(rows: readonly ConditionRow[]): string {
  const head = TABLE_METRICS.map(([, label]) => `<th>${escapeHtml(label)}</th>`).join('');
  const body = rows
    .map(
      (r, i) =>
        `<tr><th scope="row"><span class="dot" style="background:${conditionColour(r.condition, i)}"></span>${escapeHtml(r.condition)}</th><td>${r.nTrials}</td><td>${r.nInjected}</td>` +
        TABLE_METRICS.map(([m]) => rateCell(r.metrics[m])).join('') +
        '</tr>',
    )
    .join('\n');
  return `<table><thead><tr><th>condition</th><th>trials</th><th>injected</th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function pValue(p: number): string {
  return p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

function pairTable(cell: CellResult): string {
  if (cell.pairs.length === 0) return '';
  const body = cell.pairs
    .map((pair) => {
      const cells = (['harm', 'completion'] as const).map((o) => {
        const t = pair.tests[o];
        const strong = t.pHolm < 0.05 ? ' class="sig"' : '';
        return `<td>${t.onlyA} / ${t.onlyB}</td><td>${escapeHtml(`${t.diff >= 0 ? '+' : ''}${(t.diff * 100).toFixed(1)} pp`)}</td><td>${escapeHtml(pValue(t.p))}</td><td${strong}>${escapeHtml(pValue(t.pHolm))}</td>`;
      });
      return `<tr><th scope="row">${escapeHtml(pair.condition)} vs ${escapeHtml(pair.comparedWith)}</th><td>${pair.nPairs}</td>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<table class="pairs"><thead><tr><th>pair (A vs B)</th><th>pairs</th><th>harm: only A / only B</th><th>harm A − B</th><th>harm p</th><th>harm p (Holm)</th><th>completion: only A / only B</th><th>completion A − B</th><th>completion p</th><th>completion p (Holm)</th></tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function settingsTable(grid: SweepGrid): string {
  const list = (xs: readonly unknown[]) => xs.map(String).join(', ');
  const rows: Array<[string, string]> = [
    ['scenarios', list(grid.scenarios)],
    ['injection rates', list(grid.injectionRates)],
    ['reviewer sensitivity', list(grid.sensitivities)],
    ['reviewer specificity', list(grid.specificities)],
    ['reviewer fatigue (per approval in a row)', list(grid.fatigues)],
    ['fatigue floor', String(grid.fatigueFloor)],
    ['conditions', list(grid.conditions)],
    ['seeds', list(grid.seeds)],
    ['trials per condition, seed and cell', String(grid.nTrials)],
    [
      'planted mistakes',
      grid.errorTypes ? list(grid.errorTypes) : 'every kind each scenario supports',
    ],
    ['audit sample rate (audit_plus_escalate)', String(grid.auditSampleRate)],
    ['trials in all', sweepTrialCount(grid).toLocaleString('en-US')],
  ];
  return `<table class="settings"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</tbody></table>`;
}

/**
 * Options for {@link renderSweepReportHtml}.
 *
 * @example
 * renderSweepReportHtml(grid, cells, { notes: ['Chart as SVG: sweep-charts/tradeoff.svg.'] });
 */
export interface SweepReportOptions {
  /** The chart to embed (default: {@link renderSweepTradeoffChart}). */
  chart?: ReportChart;
  /** Lines under the chart: where its SVG and PNG files are, or why the PNG was skipped. */
  notes?: readonly string[];
}

/**
 * The sweep's report: a self-contained HTML page (inline SVG and CSS, no
 * scripts, no external requests) with the grid's settings as a table, the
 * trade-off curves, and per cell the pooled rates (Wilson and across-seed
 * intervals) and the paired McNemar comparisons. Every inserted text is escaped.
 *
 * @example
 * writeFileSync('out/sweep-report.html', renderSweepReportHtml(grid, aggregateSweep(grid, units)));
 */
export function renderSweepReportHtml(
  grid: SweepGrid,
  cells: readonly CellResult[],
  options: SweepReportOptions = {},
): string {
  const chart = options.chart ?? renderSweepTradeoffChart(cells);
  const sections = cells
    .map((c) => {
      const { scenario, injectionRate, sensitivity, specificity, fatigue } = c.cell;
      const title = `${scenario} · injection rate ${injectionRate} · sensitivity ${sensitivity} · specificity ${specificity} · fatigue ${fatigue}`;
      return `<section class="cell"><h3>${escapeHtml(title)}</h3>\n${conditionTable(c.pooled)}\n${pairTable(c)}</section>`;
    })
    .join('\n');
  return reportPage({
    title: 'hitloop sweep',
    maxWidthPx: 1200,
    style: `table { border-collapse: collapse; font-size: .85rem; width: 100%; margin-bottom: .75rem; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .3rem .5rem; text-align: right; vertical-align: top; }
th[scope=row], thead th:first-child { text-align: left; }
table.settings { width: auto; } table.settings td { text-align: left; }
.sub { color: #666; font-size: .72rem; } .dot { display: inline-block; width: .7rem; height: .7rem; margin-right: .4rem; border-radius: 2px; }
.sig { font-weight: 700; } .note { color: #555; font-size: .85rem; }`,
    body: `<h1>hitloop sweep</h1>
${settingsTable(grid)}
<p class="note">Each cell runs every condition on the same tasks with the same planted mistakes (for a given seed and trial index), so conditions are compared as pairs. Rates are pooled over seeds with 95% Wilson intervals; "seeds" is the mean of the per-seed rates with a 95% t-interval across seeds (clamped to 0–100%). McNemar: exact two-sided test on the discordant pairs (only A / only B); "Holm" is that p-value adjusted (Holm–Bonferroni) over every test of the same outcome in this sweep, and an adjusted p &lt; 0.05 is in bold: with many pairs and cells, unadjusted p-values under 0.05 turn up by chance. Column definitions: docs/sweep.md.</p>
<figure id="chart-${escapeHtml(chart.id)}"><figcaption>${escapeHtml(chart.title)}</figcaption>${chart.svg}</figure>
${(options.notes ?? []).map((note) => `<p class="note">${escapeHtml(note)}</p>`).join('\n')}
<h2>Cells</h2>
${sections}`,
  });
}
