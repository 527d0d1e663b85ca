import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  type ExperimentSummary,
  readSummary,
  renderErrorTypeChart,
  renderMultiReportHtml,
  renderReportCharts,
  renderReportHtml,
  renderScenarioComparisonChart,
  runExperiment,
  settingsRows,
  writeChartSvgs,
} from '../../shared/index.js';
import { escapeHtml } from '../../shared/util/escape-html.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const EVIL = '<script>alert("x")</script>&<img src=x onerror=alert(1)>';

async function summaryWithHostileNames(): Promise<ExperimentSummary> {
  const { summary } = await runExperiment({
    scenario: 'email_draft',
    nTrials: 30,
    injectionRate: 0.3,
    seed: 4,
  });
  // A summary.json someone edited: names and descriptions must not become markup.
  const s = structuredClone(summary!);
  const renamed: ExperimentSummary['conditions'] = {};
  s.condition_order = s.condition_order.map((name, i) => {
    const evil = `${EVIL}${i}`;
    renamed[evil] = { ...s.conditions[name]!, description: EVIL, policy_name: EVIL };
    return evil;
  });
  s.conditions = renamed;
  s.scenario = EVIL;
  return s;
}

describe('report', () => {
  it('draws a grey "n/a" with its tooltip, not a bar, for a rate with no data (catch rate without injections)', async () => {
    const { summary } = await runExperiment({
      scenario: 'email_draft',
      nTrials: 20,
      injectionRate: 0,
      seed: 4,
    });
    const rates = renderReportCharts(summary!).find((c) => c.id === 'rates')!;
    const na = rates.svg.match(/>n\/a<title>[^<]*</g) ?? [];
    expect(na).toEqual(
      summary!.condition_order.map((name) => `>n/a<title>${name} error catch: n/a<`),
    );
    // The other rates keep their bars.
    expect(rates.svg).toMatch(/<rect [^>]*><title>always_review approval: /);
  });

  it('escapes every inserted text', async () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
    const html = renderReportHtml(await summaryWithHostileNames());
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  it('is self-contained: inline SVG charts, a CSP that forbids loading anything, no URLs to fetch', async () => {
    const { summary } = await runExperiment({
      scenario: 'record_update',
      nTrials: 30,
      injectionRate: 0.3,
      seed: 4,
    });
    const html = renderReportHtml(summary!);
    expect(html).toContain(
      `content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`,
    );
    expect(html.match(/<svg /g)).toHaveLength(4);
    // The per-error-type table: each planted kind, asked/caught per condition.
    expect(html).toContain('<h2>Per error type</h2>');
    const always = summary!.conditions.always_review!.by_error_type.wrong_record_id!;
    expect(html).toContain(
      `<th scope="row">wrong_record_id</th><td>asked 0/${always.n_injected} · caught 0.0%`,
    );
    expect(html).toContain(`asked ${always.n_injected}/${always.n_injected} · caught`);
    expect(html).not.toMatch(/\b(?:src|href)=/);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).not.toContain('<script');
    const charts = renderReportCharts(summary!);
    expect(charts.map((c) => c.id)).toEqual(['rates', 'tradeoff', 'latency', 'error-types']);
    // One point per condition in the trade-off chart.
    expect(charts[1]!.svg.match(/<circle /g)).toHaveLength(4);
  });

  it('readSummary reports a missing or malformed file as a ConfigError naming it', async () => {
    const dir = makeTempDir('hitloop-report-');
    expect(() => readSummary(dir)).toThrow(ConfigError);
    expect(() => readSummary(dir)).toThrow(/summary\.json: not found/);
    writeFileSync(join(dir, 'summary.json'), '{"format": "hitloop-experiment-summary/1"}');
    expect(() => readSummary(dir)).toThrow(/written by an earlier hitloop.*--fresh/s);
    writeFileSync(join(dir, 'summary.json'), '{}');
    expect(() => readSummary(dir)).toThrow(/manifest\.json: not found/);
    writeFileSync(join(dir, 'manifest.json'), '{"format": "hitloop-experiment-manifest/1"}');
    expect(() => readSummary(dir)).toThrow(/manifest\.json: scenario/);
    writeFileSync(join(dir, 'manifest.json'), '{oops');
    expect(() => readSummary(dir)).toThrow(/not valid JSON/);
    // A whole experiment, then a summary.json that lost a condition.
    await runExperiment(
      { scenario: 'email_draft', nTrials: 5, injectionRate: 0.2, seed: 1 },
      { outDir: dir, telemetry: false, fresh: true },
    );
    expect(readSummary(dir).condition_order).toHaveLength(4);
    writeFileSync(join(dir, 'summary.json'), '{}');
    expect(() => readSummary(dir)).toThrow(
      /condition "no_oversight" \(listed in manifest\.json\) is missing/,
    );
    writeFileSync(join(dir, 'summary.json'), '{"risk_based": {"n_runs": 1}}');
    expect(() => readSummary(dir)).toThrow(/summary\.json: risk_based/);
  });

  it('shows the settings as a readable table, not JSON, for both reviewer models', async () => {
    const card = (
      await runExperiment({
        scenario: 'email_draft',
        nTrials: 10,
        injectionRate: 0.3,
        seed: 2,
        reviewerKind: 'card',
        reviewer: { sensitivity: 0.8, fatigue: { decayPerApproval: 0.05 } },
        card: { skimmedFieldWeight: 0.25 },
      })
    ).summary!;
    const rows = new Map(settingsRows([card]).map(([k, [v]]) => [k, v!]));
    expect(rows.get('Reviewer')).toBe('simulated, sees only the approval card');
    expect(rows.get('Sensitivity / specificity')).toBe('0.8 / 0.95');
    expect(rows.get('Decision time')).toBe('median 8.0 s, lognormal sigma 0.6');
    expect(rows.get('Fatigue')).toBe('5% of the margin lost per approval in a row, floor 0.5');
    expect(rows.get('Card visibility')).toMatch(
      /^skimmed fields ×0\.25, attention halves every 30 lines/,
    );
    expect(rows.get('Injection rate')).toBe('30% of trials get a planted mistake');
    const html = renderReportHtml(card);
    const header = html.slice(html.indexOf('<table class="settings"'), html.indexOf('</table>'));
    expect(header).toContain('<th scope="row">Trials per condition</th><td>10</td>');
    // No raw JSON anywhere in the page's text.
    expect(html).not.toMatch(/\{&quot;|"\{|\{"/);
    // A reviewer setting this version does not know is still shown, by its path.
    const future = { ...card, reviewer: { ...card.reviewer, attention: { span: 3 } } };
    expect(new Map(settingsRows([future])).get('attention.span')).toEqual(['3']);
  });

  it('one report holds several experiments: a column each in the settings, a harm comparison, a section each', async () => {
    const summaries = await Promise.all(
      (['email_draft', 'record_update', 'coding'] as const).map(
        async (scenario) =>
          (await runExperiment({ scenario, nTrials: 20, injectionRate: 0.3, seed: 6 })).summary!,
      ),
    );
    const sections = summaries.map((summary) => ({
      label: summary.scenario,
      summary,
      charts: renderReportCharts(summary).map((c) => ({ ...c, id: `${summary.scenario}-${c.id}` })),
    }));
    const html = renderMultiReportHtml(sections);
    expect(html).toContain(
      '<title>hitloop experiments: email_draft, record_update, coding</title>',
    );
    expect(html).toContain(
      '<thead><tr><th>setting</th><th>email_draft</th><th>record_update</th><th>coding</th></tr></thead>',
    );
    expect(html.match(/<section class="scenario"/g)).toHaveLength(3);
    expect(html.match(/<h3>Per error type<\/h3>/g)).toHaveLength(3);
    expect(html).toContain('id="chart-scenarios-harm"');
    expect(html).toContain('id="chart-coding-tradeoff"');
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    // The comparison: one bar per condition per scenario, titled with its harm.
    const comparison = renderScenarioComparisonChart(sections);
    expect(comparison.svg.match(/<title>[^<]*: harm /g)).toHaveLength(12);
    const harm = summaries[2]!.conditions.always_review!.harm_rate!;
    expect(comparison.svg).toContain(`coding, always_review: harm ${(harm * 100).toFixed(1)}%`);
    // One experiment is exactly the single report.
    expect(
      renderMultiReportHtml([{ ...sections[0]!, charts: renderReportCharts(summaries[0]!) }]),
    ).toBe(renderReportHtml(summaries[0]!));
    expect(() => renderMultiReportHtml([])).toThrow(RangeError);
  });

  it('charts each planted kind per condition, and writes every chart as a standalone SVG file', async () => {
    const { summary } = await runExperiment({
      scenario: 'coding',
      nTrials: 40,
      injectionRate: 0.5,
      seed: 3,
    });
    const chart = renderErrorTypeChart(summary!)!;
    const types = Object.keys(summary!.conditions.always_review!.by_error_type);
    expect(types.length).toBeGreaterThan(2);
    for (const type of types) expect(chart.svg).toContain(`>${type}</text>`);
    const none = (
      await runExperiment({ scenario: 'coding', nTrials: 5, injectionRate: 0, seed: 3 })
    ).summary!;
    expect(renderErrorTypeChart(none)).toBeNull();
    expect(renderReportCharts(none).map((c) => c.id)).toEqual(['rates', 'tradeoff', 'latency']);

    const dir = makeTempDir('hitloop-svg-');
    const charts = renderReportCharts(summary!);
    const files = writeChartSvgs(charts, join(dir, 'charts'));
    expect(readdirSync(join(dir, 'charts')).sort()).toEqual([
      'error-types.svg',
      'latency.svg',
      'rates.svg',
      'tradeoff.svg',
    ]);
    for (const [i, file] of files.entries()) {
      const text = readFileSync(file, 'utf8');
      expect(
        text.startsWith(
          '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"',
        ),
      ).toBe(true);
      expect(text).toContain(charts[i]!.svg);
      // Well-formed XML entities only (no HTML-only named entities).
      expect(
        text.match(/&[a-z]+;/g)?.every((e) => ['&amp;', '&lt;', '&gt;', '&quot;'].includes(e)) ??
          true,
      ).toBe(true);
    }
  });
});
