import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findChromium } from '../../shared/eval/report-png.js';
import { SWEEP_COLUMNS } from '../../shared/eval/sweep/sweep-csv.js';
import { withReportPage } from '../helpers/report-page.js';
import { CLI, runHitloop, runHitloopAsync } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const artifacts = join(process.cwd(), 'test-artifacts');
const tmp = () => makeTempDir('hitloop-sweep-cli-');
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

// Every cell of a row is text; a missing column reads as undefined.
type Row = Record<string, string>;

function readCsv(path: string): { header: string; rows: Row[] } {
  const [header, ...lines] = readFileSync(path, 'utf8').split('\r\n').filter(Boolean);
  return {
    header: header!,
    rows: lines.map(
      (l) => Object.fromEntries(l.split(',').map((v, i) => [SWEEP_COLUMNS[i], v])) as Row,
    ),
  };
}

const SMALL = [
  'sweep',
  '--injection-rates',
  '0.2,0.4',
  '--sensitivities',
  '0.5,0.95',
  '--seeds',
  '3,4',
  '--n-trials',
  '60',
];

describe('hitloop sweep (built CLI)', () => {
  it('writes one CSV with pooled, McNemar and per-seed rows, byte-identical by seed, and a report with the curves', {
    timeout: 90_000,
  }, async () => {
    const [a, b] = [tmp(), tmp()];
    const [ra, rb] = await Promise.all([
      runHitloopAsync([...SMALL, '--out', a]),
      runHitloopAsync([...SMALL, '--out', b, '--no-png']),
    ]);
    for (const r of [ra, rb]) {
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
    }
    // Two processes, same grid: the same bytes (nothing time-dependent in the CSV).
    expect(readFileSync(join(a, 'sweep.csv')).equals(readFileSync(join(b, 'sweep.csv')))).toBe(
      true,
    );
    expect(
      readFileSync(join(a, 'sweep-manifest.json')).equals(
        readFileSync(join(b, 'sweep-manifest.json')),
      ),
    ).toBe(true);
    expect(ra.stderr).toMatch(/hitloop: 1920\/1920 trials \(100%\)/);

    const { header, rows } = readCsv(join(a, 'sweep.csv'));
    expect(header).toBe(SWEEP_COLUMNS.join(','));
    // 4 cells x (4 pooled + 6 pairs + 2 seeds x 4 conditions).
    expect(rows).toHaveLength(4 * (4 + 6 + 8));
    const pooled = rows.filter((r) => r.row_type === 'pooled');
    const pairs = rows.filter((r) => r.row_type === 'mcnemar');
    expect(pooled).toHaveLength(16);
    expect(pairs).toHaveLength(24);
    const find = (cond?: string, inj?: string, sens?: string) =>
      pooled.find(
        (r) => r.condition === cond && r.injection_rate === inj && r.reviewer_sensitivity === sens,
      )!;
    for (const pair of pairs) {
      const x = find(pair.condition, pair.injection_rate, pair.reviewer_sensitivity);
      const y = find(pair.compared_with, pair.injection_rate, pair.reviewer_sensitivity);
      expect(pair.n_trials).toBe('120');
      // Paired: the difference of the pooled counts is the difference of the discordant counts.
      for (const o of ['harm', 'completion'] as const) {
        expect(Number(x[`${o}_num`]) - Number(y[`${o}_num`])).toBe(
          Number(pair[`${o}_only_condition`]) - Number(pair[`${o}_only_compared`]),
        );
        const p = Number(pair[`${o}_mcnemar_p`]);
        expect(p).toBeGreaterThan(0);
        expect(p).toBeLessThanOrEqual(1);
        // Adjusted over the sweep's 24 tests of this outcome: between p and Bonferroni's 24p.
        const holm = Number(pair[`${o}_mcnemar_p_holm`]);
        expect(holm).toBeGreaterThanOrEqual(p);
        expect(holm).toBeLessThanOrEqual(Math.min(1, 24 * p) * (1 + 1e-5));
      }
      // Every condition saw the same planted mistakes.
      expect(x.n_injected).toBe(y.n_injected);
    }
    // A real difference shows: no oversight against a careful reviewer on every action.
    const strong = pairs.find(
      (r) =>
        r.condition === 'no_oversight' &&
        r.compared_with === 'always_review' &&
        r.injection_rate === '0.4' &&
        r.reviewer_sensitivity === '0.95',
    )!;
    expect(Number(strong.harm_only_condition)).toBeGreaterThan(20);
    expect(Number(strong.harm_only_compared)).toBe(0);
    expect(Number(strong.harm_mcnemar_p)).toBeLessThan(1e-6);
    // It stands after the adjustment for the sweep's many comparisons too.
    expect(Number(strong.harm_mcnemar_p_holm)).toBeLessThan(24e-6);
    // A better reviewer lowers harm under always_review at the same injection rate.
    expect(Number(find('always_review', '0.4', '0.95').harm_rate)).toBeLessThan(
      Number(find('always_review', '0.4', '0.5').harm_rate),
    );
    expect(Number(find('always_review', '0.4', '0.95').approval_rate)).toBe(1);
    expect(Number(find('no_oversight', '0.4', '0.95').approval_rate)).toBe(0);

    const html = readFileSync(join(a, 'sweep-report.html'), 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('<svg');
    expect(html).toContain('approval rate (human burden)');
    expect(html).toContain('sensitivity 0.5 · specificity 0.95 · fatigue 0.02');
    expect(html).toContain('sensitivity 0.95 · specificity 0.95 · fatigue 0.02');
    // Settings as a table, not JSON; McNemar tables per cell.
    expect(html).toMatch(/<th scope="row">injection rates<\/th><td>0.2, 0.4<\/td>/);
    expect(html).toContain('no_oversight</th><td>120</td>');
    expect(html).not.toContain('{"');
    // One curve per condition: a path per condition per panel, a point per injection rate.
    expect(html.match(/<path d="M[^"]*L[^"]*" fill="none"/g)?.length).toBe(2 * 4);
    // The chart as an SVG file too, the same drawing as in the report, in both runs.
    const svg = readFileSync(join(a, 'sweep-charts', 'tradeoff.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(html).toContain(svg);
    expect(html).toContain('Chart as SVG: sweep-charts/tradeoff.svg.');
    expect(readFileSync(join(b, 'sweep-charts', 'tradeoff.svg'), 'utf8')).toBe(svg);
    if (findChromium()) {
      expect(existsSync(join(a, 'sweep-charts', 'tradeoff.png'))).toBe(true);
      expect(html).toContain('PNG copy of the chart: sweep-charts/tradeoff.png');
    } else {
      expect(html).toContain('PNG copy of the chart was skipped');
    }
    // The summary table on stdout.
    expect(ra.stdout).toMatch(/no_oversight\s+0\.0%/);
  });

  it('a bad grid file exits 2 naming the file, the field and the fix', () => {
    const dir = tmp();
    const grid = join(dir, 'grid.json');
    writeFileSync(
      grid,
      JSON.stringify({ injectionRates: [0.1, 0.2], sensitivities: [0.9, 'high'] }),
    );
    const r = runHitloop(['sweep', '--grid', grid, '--out', join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(grid);
    expect(r.stderr).toContain('sensitivities[1]');
    expect(r.stderr).toMatch(/fix:/);
    noStack(r.stderr);
    expect(existsSync(join(dir, 'out'))).toBe(false);

    writeFileSync(grid, '{"seeds": [1, 2,]}');
    const syntax = runHitloop(['sweep', '--grid', grid, '--out', join(dir, 'out')]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/not valid JSON/);
    noStack(syntax.stderr);
  });

  it('a bad flag exits 2 naming the flag; flags override the grid file', () => {
    const dir = tmp();
    const bad = runHitloop(['sweep', '--injection-rates', '0.1,abc', '--out', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--injection-rates');
    expect(bad.stderr).toContain('"abc" is not a number');
    noStack(bad.stderr);
    const range = runHitloop(['sweep', '--seeds', '1,1', '--out', dir]);
    expect(range.code).toBe(2);
    expect(range.stderr).toMatch(/--seeds: \[1\]: lists 1 twice/);

    const grid = join(dir, 'grid.toml');
    writeFileSync(
      grid,
      'injectionRates = [0.3]\nsensitivities = [0.8]\nseeds = [1]\nnTrials = 400\n',
    );
    const out = join(dir, 'out');
    const ok = runHitloop(['sweep', '--grid', grid, '--n-trials', '10', '--no-png', '--out', out]);
    expect(ok.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'sweep-manifest.json'), 'utf8'));
    expect(manifest.grid).toMatchObject({
      injectionRates: [0.3],
      sensitivities: [0.8],
      seeds: [1],
      nTrials: 10,
    });
    expect(manifest.columns).toEqual([...SWEEP_COLUMNS]);

    // Other shared settings in the same directory: refused, with the way out.
    const other = runHitloop([
      'sweep',
      '--grid',
      grid,
      '--n-trials',
      '11',
      '--no-png',
      '--out',
      out,
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/different shared settings/);
    expect(other.stderr).toMatch(/--fresh/);
  });

  it('killed midway, the same command resumes the unfinished units and writes the same bytes', {
    timeout: 120_000,
  }, async () => {
    const args = ['sweep', '--n-trials', '100', '--no-png'];
    const whole = tmp();
    const uninterrupted = runHitloop([...args, '--out', whole]);
    expect(uninterrupted.code).toBe(0);

    const cut = tmp();
    const journal = join(cut, 'sweep-journal.jsonl');
    const units = () =>
      existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').length - 2 : 0;
    const child = spawn(process.execPath, [CLI, ...args, '--out', cut], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    for (let i = 0; i < 3000 && units() < 3; i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const done = units();
    expect(done).toBeGreaterThanOrEqual(3);
    expect(done).toBeLessThan(27);
    expect(existsSync(join(cut, 'sweep.csv'))).toBe(false);

    const resumed = runHitloop([...args, '--out', cut]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`\\(${done} of 27 units resumed from`));
    expect(
      readFileSync(join(cut, 'sweep.csv')).equals(readFileSync(join(whole, 'sweep.csv'))),
    ).toBe(true);
    expect(
      readFileSync(join(cut, 'sweep-report.html')).equals(
        readFileSync(join(whole, 'sweep-report.html')),
      ),
    ).toBe(true);
  });

  it('Ctrl-C (SIGINT) stops at the next unit, exits 1 keeping the journal, and the same command resumes', {
    timeout: 120_000,
  }, async () => {
    const args = ['sweep', '--n-trials', '150', '--no-png', '--no-progress'];
    const out = tmp();
    const journal = join(out, 'sweep-journal.jsonl');
    const units = () =>
      existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').length - 2 : 0;
    const child = spawn(process.execPath, [CLI, ...args, '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    for (let i = 0; i < 3000 && units() < 2; i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(stderr).toMatch(
      /interrupted; finished units are in .*sweep-journal\.jsonl\. Run the same command again to resume\./,
    );
    noStack(stderr);
    const done = units();
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThan(27);
    expect(existsSync(join(out, 'sweep.csv'))).toBe(false);
    const resumed = runHitloop([...args, '--out', out], {});
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`\\(${done} of 27 units resumed from`));
  });

  const chromiumPath = findChromium();
  it.skipIf(!chromiumPath)(
    chromiumPath
      ? 'the report renders in headless Chromium with no requests or errors: a panel per reviewer setting, a point per condition and rate'
      : 'sweep report in Chromium: SKIPPED, no Chromium found (apt-get install chromium, or set HITLOOP_CHROMIUM)',
    { timeout: 90_000 },
    async () => {
      const out = tmp();
      const r = runHitloop([...SMALL, '--specificities', '0.8,0.95', '--no-png', '--out', out]);
      expect(r.code).toBe(0);
      await withReportPage(
        chromiumPath,
        join(out, 'sweep-report.html'),
        { width: 1250, height: 900 },
        async (page) => {
          const svg = page.locator('#chart-tradeoff svg');
          expect((await svg.boundingBox())!.width).toBeGreaterThan(800);
          // 2 sensitivities x 2 specificities = 4 panels; in each, 4 conditions x 2 rates
          // points with a tooltip, plus the 4 legend markers.
          const panelTitles = await svg.locator('text').allTextContents();
          expect(panelTitles.filter((t) => /^sensitivity .* fatigue 0\.02$/.test(t))).toHaveLength(
            4,
          );
          expect(await svg.locator('title').count()).toBe(4 * 4 * 2 + 4);
          // Settings table, then per cell (8 cells) a condition table and a McNemar table.
          expect(await page.locator('table').count()).toBe(1 + 8 * 2);
          expect(await page.locator('table.pairs').first().locator('tbody tr').count()).toBe(6);
          mkdirSync(artifacts, { recursive: true });
          await page.screenshot({ path: join(artifacts, 'sweep-report.png'), fullPage: false });
        },
      );
    },
  );
});
