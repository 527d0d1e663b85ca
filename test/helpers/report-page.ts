import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { CHROMIUM_ARGS } from '../../shared/index.js';

/**
 * Opens a report file in headless Chromium, checks it loaded with no request
 * but itself (the report must be self-contained) and no console or page
 * errors, then hands the page to `check`; the browser is closed either way.
 *
 * @example
 * await withReportPage(chromiumPath, join(out, 'report.html'), { width: 1200, height: 900 }, async (page) => {
 *   expect(await page.locator('figure svg').count()).toBe(4);
 * });
 */
export async function withReportPage(
  chromiumPath: string | undefined,
  file: string,
  viewport: { width: number; height: number },
  check: (page: Page) => Promise<void>,
): Promise<void> {
  // Callers skip their test when no Chromium is found; reaching here without one is a bug.
  if (!chromiumPath) throw new Error('withReportPage: no Chromium (guard the test with skipIf)');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: [...CHROMIUM_ARGS] });
  try {
    const page = await browser.newPage({ viewport });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    const url = pathToFileURL(file).href;
    await page.goto(url);
    expect(requests).toEqual([url]);
    expect(errors).toEqual([]);
    await check(page);
  } finally {
    await browser.close();
  }
}
