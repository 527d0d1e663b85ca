import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  type ExperimentSummary,
  readSummary,
  renderReportCharts,
  renderReportHtml,
  runExperiment,
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
    expect(html.match(/<svg /g)).toHaveLength(3);
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
    expect(charts.map((c) => c.id)).toEqual(['rates', 'tradeoff', 'latency']);
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
});
