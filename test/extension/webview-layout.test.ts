import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToWebview } from '../../extension/src/protocol.js';
import { toDetail } from '../../extension/src/views.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { localHub, record, snapshotMessage } from './helpers.js';

// The Approvals view's layout in a real browser (Debian's Chromium), at the
// widths a sidebar has: nothing may scroll sideways. VS Code 1.139 showed a
// horizontal scrollbar because the tab row (286 px) was wider than the view
// (282 px). The page loads the built webview bundle and CSS, as the webview does.

const root = join(import.meta.dirname, '..', '..');
const dist = join(root, 'dist', 'extension');
const CHROMIUM = process.env.HITLOOP_E2E_CHROMIUM ?? '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (install Debian's chromium)`
  : !existsSync(join(dist, 'webview.js'))
    ? 'dist/extension/webview.js is missing (npm run build)'
    : undefined;
if (missing) console.log(`webview layout tests skipped: ${missing}`);

const hub = localHub;

// VS Code's own defaults for the variables the CSS reads (Linux, Dark Modern).
const VSCODE_VARS = `:root {
  --vscode-font-family: system-ui, "Ubuntu", "Droid Sans", sans-serif;
  --vscode-font-size: 13px;
  --vscode-editor-font-family: "Droid Sans Mono", "monospace", monospace;
  --vscode-editor-font-size: 14px;
  --vscode-foreground: #cccccc;
  --vscode-sideBar-background: #181818;
  --vscode-button-background: #0078d4;
  --vscode-button-foreground: #ffffff;
  --vscode-badge-background: #616161;
  --vscode-badge-foreground: #f8f8f8;
}`;

let dir: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (missing) return;
  dir = makeTempDir('hitloop-layout-');
  mkdirSync(join(dir, 'codicons'));
  for (const f of ['webview.js', 'webview.css', 'codicons/codicon.css', 'codicons/codicon.ttf'])
    copyFileSync(join(dist, f), join(dir, f));
  writeFileSync(join(dir, 'vars.css'), VSCODE_VARS);
  writeFileSync(
    join(dir, 'index.html'),
    `<!DOCTYPE html><html><head><meta charset="UTF-8">
<link rel="stylesheet" href="codicons/codicon.css"><link rel="stylesheet" href="vars.css">
<link rel="stylesheet" href="webview.css">
<script>window.acquireVsCodeApi = () => ({ postMessage() {}, getState() {}, setState() {} });</script>
</head><body><main id="app"></main><script src="webview.js"></script></body></html>`,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 60_000,
  });
  page = await browser.newPage();
  await page.goto(pathToFileURL(join(dir, 'index.html')).href);
});

afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Posts a message as the extension host would, and returns once the app has handled it. */
async function send(message: ToWebview): Promise<void> {
  await page.evaluate(
    (m) =>
      new Promise<void>((resolve) => {
        // Listeners run in the order they were added: the app's first, then this one.
        window.addEventListener('message', () => resolve(), { once: true });
        window.postMessage(m, '*');
      }),
    message as unknown,
  );
}

/**
 * How far the page, or the tab row, reaches past the view's right edge, and
 * the elements that do (for the failure message).
 */
function overflow(): Promise<{ page: number; tabs: number; culprits: string[] }> {
  return page.evaluate(() => {
    const doc = document.documentElement;
    const tabs = document.querySelector<HTMLElement>('.tabs')!;
    const culprits = [...document.querySelectorAll<HTMLElement>('body *')]
      .filter(
        (el) =>
          el.getClientRects().length && el.getBoundingClientRect().right > doc.clientWidth + 0.5,
      )
      .map(
        (el) =>
          `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} (right ${Math.round(el.getBoundingClientRect().right)})`,
      )
      .slice(0, 8);
    return {
      page: doc.scrollWidth - doc.clientWidth,
      tabs: tabs.scrollWidth - tabs.clientWidth,
      culprits,
    };
  });
}

const pending = [
  record({ tool: 'write_file', server: 'secure-filesystem-server' }),
  record({
    tool: 'a_tool_with_a_really_long_name_that_never_breaks',
    server: 'files',
    args: { path: '/work/project/src/a/very/long/path/to/some/file/deep/inside.ts' },
  }),
];

describe.skipIf(missing !== undefined)(
  'the Approvals view in Chromium: no sideways scrolling',
  () => {
    for (const width of [170, 240, 282, 320, 400]) {
      it(`at ${width} px: the tab row wraps or fits, and the page never scrolls sideways`, async () => {
        await page.setViewportSize({ width, height: 700 });
        await send(snapshotMessage(hub, pending, new Date()));
        expect(await page.locator('[data-testid="approval-item"]').count()).toBe(2);
        if (process.env.HITLOOP_LAYOUT_SHOTS)
          await page.screenshot({
            path: join(process.env.HITLOOP_LAYOUT_SHOTS, `list-${width}.png`),
          });
        const list = await overflow();
        expect(list.tabs, `tab row at ${width} px`).toBeLessThanOrEqual(0);
        expect(list.page, `list at ${width} px`).toBeLessThanOrEqual(0);

        await send({ type: 'detail', item: toDetail({ hub, approval: pending[1]! }, true) });
        await page.locator('[data-testid="approve-button"]').waitFor();
        if (process.env.HITLOOP_LAYOUT_SHOTS)
          await page.screenshot({
            path: join(process.env.HITLOOP_LAYOUT_SHOTS, `detail-${width}.png`),
          });
        const shown = await overflow();
        expect(
          shown.page,
          `detail at ${width} px: ${shown.culprits.join(', ')}`,
        ).toBeLessThanOrEqual(0);
        await page.locator('[data-testid="tab-pending"]').click();
      });
    }
  },
);
