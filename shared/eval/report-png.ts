import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ReportChart } from './report.js';

/**
 * Where we look for a Chromium when none is named: Debian's package first.
 *
 * @example
 * CHROMIUM_CANDIDATES[0] // '/usr/bin/chromium'
 */
export const CHROMIUM_CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
] as const;

/**
 * Flags for a headless Chromium that touches no network and needs no sandbox setup.
 *
 * @example
 * await chromium.launch({ executablePath: findChromium(), args: [...CHROMIUM_ARGS] });
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/**
 * The Chromium to use: `explicit`, else `$HITLOOP_CHROMIUM`, else the first
 * of {@link CHROMIUM_CANDIDATES} that exists; undefined when there is none.
 *
 * @example
 * findChromium() // '/usr/bin/chromium' on Debian with the package installed
 */
export function findChromium(explicit?: string): string | undefined {
  const wanted = explicit ?? process.env.HITLOOP_CHROMIUM;
  if (wanted) return existsSync(wanted) ? wanted : undefined;
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

/**
 * How to get PNG charts, for the message when playwright-core is missing.
 * `-g` for a global hitloop: Node finds a global playwright-core from a global
 * hitloop, as both sit in the same node_modules folder.
 *
 * @example
 * console.error(`PNG charts need playwright-core and Chromium: ${PNG_SETUP}`);
 */
export const PNG_SETUP =
  'npm install playwright-core (next to hitloop; -g for a global hitloop), plus Chromium (Debian: apt-get install chromium, or set HITLOOP_CHROMIUM)';

/**
 * What {@link renderChartsToPng} did: the files written, or why none were.
 *
 * @example
 * const r: PngResult = { ok: false, reason: 'Chromium not found ...' };
 */
export type PngResult = { ok: true; files: string[] } | { ok: false; reason: string };

/**
 * Options for {@link renderChartsToPng}.
 *
 * @example
 * await renderChartsToPng(charts, 'out/charts', { executablePath: '/usr/bin/chromium', scale: 1 });
 */
export interface PngOptions {
  /** The Chromium binary; default {@link findChromium}. */
  executablePath?: string;
  /** Pixel density of the PNGs. Default 2 (sharp on high-DPI screens and in slides). */
  scale?: number;
  /** Gives up after this long. Default 60 s. */
  timeoutMs?: number;
}

/**
 * Renders each chart's SVG to `<dir>/<chart.id>.png` in headless Chromium
 * (through playwright-core, which downloads nothing). Never throws for a
 * missing or broken browser: the report must still be written, so the reason
 * comes back for the caller to print.
 *
 * @example
 * const result = await renderChartsToPng(renderReportCharts(summary), 'out/charts');
 * if (!result.ok) console.error(`PNG charts skipped: ${result.reason}`);
 */
export async function renderChartsToPng(
  charts: readonly ReportChart[],
  dir: string,
  options: PngOptions = {},
): Promise<PngResult> {
  // playwright-core is an optional peer dependency: a hitloop installed from
  // its package has it only if the user added it. Checked first so a machine
  // with neither hears about both in one line.
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      reason:
        code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
          ? `they need playwright-core and Chromium: ${PNG_SETUP}`
          : `playwright-core could not be loaded (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    };
  }
  const executablePath = findChromium(options.executablePath);
  if (!executablePath) {
    const where = options.executablePath ?? process.env.HITLOOP_CHROMIUM;
    return {
      ok: false,
      reason: where
        ? `no Chromium at ${where}`
        : `Chromium not found (looked for ${CHROMIUM_CANDIDATES.join(', ')}); install it (Debian: apt-get install chromium) or set HITLOOP_CHROMIUM`,
    };
  }
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    browser = await chromium.launch({
      executablePath,
      args: [...CHROMIUM_ARGS],
      timeout: options.timeoutMs ?? 60_000,
    });
    const page = await browser.newPage({ deviceScaleFactor: options.scale ?? 2 });
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    for (const chart of charts) {
      await page.setViewportSize({ width: chart.width + 20, height: chart.height + 20 });
      await page.setContent(
        `<!doctype html><html><body style="margin:0;background:#fff">${chart.svg}</body></html>`,
      );
      const file = join(dir, `${chart.id}.png`);
      await page.locator('svg').first().screenshot({ path: file });
      files.push(file);
    }
    return { ok: true, files };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { ok: false, reason: `Chromium at ${executablePath} failed: ${message}` };
  } finally {
    await browser?.close().catch(() => {});
  }
}
