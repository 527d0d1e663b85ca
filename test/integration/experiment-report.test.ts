import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, findChromium } from '../../shared/index.js';
import { runHitloop } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const chromiumPath = findChromium();
const artifacts = join(process.cwd(), 'test-artifacts');
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

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
      const pngs = readdirSync(join(out, 'charts')).sort();
      expect(pngs).toEqual(['latency.png', 'rates.png', 'tradeoff.png']);
      for (const f of pngs) {
        expect(
          readFileSync(join(out, 'charts', f))
            .subarray(0, 4)
            .equals(PNG_MAGIC),
        ).toBe(true);
      }

      const browser = await chromium.launch({
        executablePath: chromiumPath,
        args: [...CHROMIUM_ARGS],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const requests: string[] = [];
        const errors: string[] = [];
        page.on('request', (req) => requests.push(req.url()));
        page.on('console', (msg) => {
          if (msg.type() === 'error') errors.push(msg.text());
        });
        page.on('pageerror', (err) => errors.push(err.message));
        const url = pathToFileURL(join(out, 'report.html')).href;
        await page.goto(url);
        expect(requests).toEqual([url]);
        expect(errors).toEqual([]);
        expect(await page.locator('figure svg').count()).toBe(3);
        const box = await page.locator('#chart-tradeoff svg').boundingBox();
        expect(box!.width).toBeGreaterThan(300);
        expect(await page.locator('#chart-tradeoff circle').count()).toBe(4);
        // The metrics table (one row per condition), then the per-error-type table.
        const tables = page.locator('table');
        expect(await tables.count()).toBe(2);
        expect(await tables.nth(0).locator('tbody tr').count()).toBe(4);
        expect(await tables.nth(1).locator('tbody tr').count()).toBeGreaterThan(0);
        mkdirSync(artifacts, { recursive: true });
        await page.screenshot({ path: join(artifacts, 'experiment-report.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
