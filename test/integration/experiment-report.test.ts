import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { findChromium } from '../../shared/index.js';
import { withReportPage } from '../helpers/report-page.js';
import { runHitloop } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const chromiumPath = findChromium();
const artifacts = join(process.cwd(), 'test-artifacts');
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

/** Every chart on the page is an SVG with a real size and drawn marks. */
async function expectChartsVisible(page: Page): Promise<void> {
  const charts = page.locator('figure svg');
  const n = await charts.count();
  expect(n).toBeGreaterThan(0);
  for (let i = 0; i < n; i++) {
    const chart = charts.nth(i);
    expect(await chart.isVisible()).toBe(true);
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(200);
    expect(box!.height).toBeGreaterThan(100);
    expect(await chart.locator('rect, circle').count()).toBeGreaterThan(2);
  }
}

function experiment(scenario: string, seed: string, out: string, extra: string[] = []): void {
  const r = runHitloop([
    'experiment',
    '--scenario',
    scenario,
    '--n-trials',
    '60',
    '--injection-rate',
    '0.25',
    '--seed',
    seed,
    '--out',
    out,
    '--no-progress',
    ...extra,
  ]);
  expect(r.code, r.stderr).toBe(0);
}

describe('hitloop report (built CLI)', () => {
  // Made where the tests are declared, so it is removed after them (a
  // folder made in beforeAll would outlive them).
  const out = makeTempDir('hitloop-exp-report-');
  beforeAll(() => {
    const r = runHitloop([
      'experiment',
      '--scenario',
      'coding',
      '--n-trials',
      '60',
      '--injection-rate',
      '0.25',
      '--seed',
      '8',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
  });

  it('writes the HTML report even when Chromium is missing, and says the PNGs were skipped', () => {
    const dir = makeTempDir('hitloop-exp-report-out-');
    const html = join(dir, 'r.html');
    const r = runHitloop(['report', out, '--out', html], {
      env: { HITLOOP_CHROMIUM: '/nonexistent/chromium' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(html);
    expect(r.stderr).toMatch(/PNG charts skipped: no Chromium at \/nonexistent\/chromium/);
    expect(readFileSync(html, 'utf8')).toContain('were skipped: no Chromium');
  });

  it('a directory without a finished experiment exits 2', () => {
    const r = runHitloop(['report', makeTempDir('hitloop-empty-')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/summary\.json: not found/);
  });

  it.skipIf(!chromiumPath)(
    chromiumPath
      ? 'renders in headless Chromium with no network requests, and writes a PNG of each chart'
      : 'report rendering in Chromium: SKIPPED, no Chromium found (apt-get install chromium, or set HITLOOP_CHROMIUM)',
    async () => {
      const r = runHitloop(['report', out], { env: { HITLOOP_CHROMIUM: chromiumPath } });
      expect(r.code).toBe(0);
      const files = readdirSync(join(out, 'charts')).sort();
      const ids = ['error-types', 'latency', 'rates', 'tradeoff'];
      expect(files).toEqual(ids.flatMap((id) => [`${id}.png`, `${id}.svg`]));
      const pngs = files.filter((f) => f.endsWith('.png'));
      for (const f of pngs) {
        expect(
          readFileSync(join(out, 'charts', f))
            .subarray(0, 4)
            .equals(PNG_MAGIC),
        ).toBe(true);
      }

      await withReportPage(
        chromiumPath,
        join(out, 'report.html'),
        { width: 1200, height: 900 },
        async (page) => {
          expect(await page.locator('figure svg').count()).toBe(4);
          await expectChartsVisible(page);
          const box = await page.locator('#chart-tradeoff svg').boundingBox();
          expect(box!.width).toBeGreaterThan(300);
          expect(await page.locator('#chart-tradeoff circle').count()).toBe(4);
          // The settings, the metrics table (one row per condition), then the per-error-type table.
          const tables = page.locator('table');
          expect(await tables.count()).toBe(3);
          expect(await tables.nth(0).locator('th[scope=row]').allTextContents()).toContain(
            'Injection rate',
          );
          expect(await tables.nth(1).locator('tbody tr').count()).toBe(4);
          expect(await tables.nth(2).locator('tbody tr').count()).toBeGreaterThan(0);
          mkdirSync(artifacts, { recursive: true });
          await page.screenshot({ path: join(artifacts, 'experiment-report.png'), fullPage: true });
        },
      );
    },
    60_000,
  );

  it('several experiment directories need --out (exit 2 naming it)', () => {
    const r = runHitloop(['report', out, out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out: is needed with 2 experiment directories/);
  });

  it.skipIf(!chromiumPath)(
    chromiumPath
      ? 'one report of three scenarios (one with the card reviewer) renders in Chromium: every chart visible, a screenshot kept'
      : 'multi-scenario report in Chromium: SKIPPED, no Chromium found (apt-get install chromium, or set HITLOOP_CHROMIUM)',
    async () => {
      const root = makeTempDir('hitloop-exp-multi-');
      experiment('email_draft', '8', join(root, 'email'), ['--reviewer', 'card']);
      experiment('record_update', '8', join(root, 'crm'));
      const html = join(root, 'all', 'report.html');
      mkdirSync(join(root, 'all'));
      const r = runHitloop(['report', join(root, 'email'), join(root, 'crm'), out, '--out', html], {
        env: { HITLOOP_CHROMIUM: chromiumPath },
      });
      expect(r.code, r.stderr).toBe(0);
      const files = readdirSync(join(root, 'all', 'charts'));
      // 4 charts per experiment plus the comparison, each as SVG and PNG.
      expect(files.filter((f) => f.endsWith('.svg'))).toHaveLength(13);
      expect(files.filter((f) => f.endsWith('.png'))).toHaveLength(13);
      expect(files).toContain('scenarios-harm.svg');

      await withReportPage(chromiumPath, html, { width: 1200, height: 900 }, async (page) => {
        expect(await page.locator('figure svg').count()).toBe(13);
        await expectChartsVisible(page);
        expect(await page.locator('section.scenario h2').allTextContents()).toEqual([
          'email_draft',
          'record_update',
          'coding',
        ]);
        const settings = page.locator('table.settings');
        expect(await settings.locator('thead th').allTextContents()).toEqual([
          'setting',
          'email_draft',
          'record_update',
          'coding',
        ]);
        const reviewer = settings.locator('tr', { hasText: 'Reviewer' }).locator('td');
        expect(await reviewer.allTextContents()).toEqual([
          'simulated, sees only the approval card',
          'simulated, coin flip (the baseline)',
          'simulated, coin flip (the baseline)',
        ]);
        // The comparison chart has a bar for each condition of each scenario.
        expect(await page.locator('#chart-scenarios-harm rect[fill]:has(title)').count()).toBe(12);
        mkdirSync(artifacts, { recursive: true });
        await page.screenshot({
          path: join(artifacts, 'experiment-report-scenarios.png'),
          fullPage: true,
        });
      });
    },
    120_000,
  );
});
