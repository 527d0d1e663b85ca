import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  ARTIFACTS,
  type CodeServer,
  findWebviewFrame,
  launchBrowser,
  log,
  openActivityView,
  openWorkbench,
  type RunningProxy,
  startCodeServer,
  startProxy,
  tempRoot,
} from './harness.js';
import {
  argsText,
  card as cardIn,
  control,
  openCard,
  pendingApproval,
  rejectCard,
  SIDEBAR_READY,
  waitGone,
} from './sidebar-driver.js';

// A person approves, rejects and edits an agent's write_file in the real
// sidebar: code-server runs the packaged VSIX, Chromium drives the webview,
// the MCP SDK's client is the agent and `hitloop proxy` (approval backend: the
// hub) stands in front of the real server-filesystem.

interface CallResult {
  isError?: boolean;
  content?: { type: string; text?: string }[];
}

/** What the page reports about script that should never run. */
interface Report {
  kind: string;
  detail: string;
  frame: string;
}

/**
 * Runs in every frame before its own scripts (plain JS: it is browser code).
 * Webviews are sandboxed without allow-modals, so an injected alert() would
 * not open a dialog there: every frame reports calls to the dialog functions,
 * and CSP violations (an injected inline handler that the CSP blocked is
 * still an injection).
 */
const REPORTER = `(() => {
  const report = (kind, detail) => {
    try { window.__hitloopE2eReport?.(kind, detail); } catch {}
  };
  for (const name of ['alert', 'confirm', 'prompt', 'print']) {
    const original = window[name];
    window[name] = (...args) => {
      report(name, String(args[0]));
      return typeof original === 'function' ? original.apply(window, args) : undefined;
    };
  }
  document.addEventListener('securitypolicyviolation', (e) => {
    report('csp', e.violatedDirective + ' blocked=' + e.blockedURI + ' sample=' + e.sample);
  }, true);
})();`;

/** Counts elements that only an injection would create, in one frame (browser code). */
const INJECTED_ELEMENTS = `({
  imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
  scripts: [...document.scripts].filter((s) => s.text.includes('alert(')).length,
})`;

let root: ReturnType<typeof tempRoot>;
let home: string;
let workspace: string;
let proxy: RunningProxy | undefined;
let codeServer: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page;
let client: Client | undefined;
let writeTool: string;
const dialogs: string[] = [];
const reports: Report[] = [];
const pageErrors: string[] = [];
let shot = 0;

async function screenshot(name: string): Promise<void> {
  shot += 1;
  const file = join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page
    .screenshot({ path: file })
    .catch((err: Error) => log(`screenshot failed: ${err.message}`));
  log(`screenshot ${file}`);
}

function callWriteFile(args: { path: string; content: string }): Promise<CallResult> {
  if (!client) throw new Error('no MCP client');
  return client.callTool({ name: writeTool, arguments: args }, undefined, {
    timeout: 170_000,
  }) as Promise<CallResult>;
}

function resultText(result: CallResult): string {
  return (result.content ?? []).map((c) => c.text ?? '').join('\n');
}

function card(id: string) {
  return cardIn(page, id);
}

async function reject(frame: Frame, scope: Locator, reason: string, shotName?: string) {
  await rejectCard(frame, scope, reason, shotName ? () => screenshot(shotName) : undefined);
}

/** The pending approval for this write, after the agent asked. */
async function proposed(args: { path: string; content: string }) {
  const call = callWriteFile(args);
  // Surface a rejected call at once instead of as an unhandled rejection later.
  call.catch(() => undefined);
  const approval = await pendingApproval(
    home,
    (a) => a.args.path === args.path && a.args.content === args.content,
  );
  return { call, approval };
}

describe('the sidebar in a real VS Code (code-server) and a real browser', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    root = tempRoot();
    home = join(root.dir, 'hitloop-home');
    workspace = join(root.dir, 'workspace');
    mkdirSync(home, { recursive: true });
    mkdirSync(workspace, { recursive: true });
    const env = { HITLOOP_HOME: home };

    proxy = await startProxy({ cwd: workspace, allowedDir: workspace, env });
    codeServer = await startCodeServer({ vsix: inject('vsix'), root: root.dir, workspace, env });

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss().catch(() => undefined);
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.exposeBinding('__hitloopE2eReport', (source, kind: string, detail: string) => {
      reports.push({ kind, detail, frame: source.frame.url() });
    });
    await page.addInitScript({ content: REPORTER });

    await openWorkbench(page, codeServer.url);
    await openActivityView(page, codeServer.manifest);
    await findWebviewFrame(page, SIDEBAR_READY, 90_000);
    await screenshot('sidebar-open');

    client = new Client({ name: 'hitloop-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(proxy.url));
    const tools = (await client.listTools()).tools.map((t) => t.name);
    const found = tools.find((n) => n === 'write_file' || n.endsWith('write_file'));
    if (!found) throw new Error(`the proxy lists no write_file tool: ${tools.join(', ')}`);
    writeTool = found;
    log(`ready in ${Date.now() - t0} ms (tool ${writeTool})`);
  });

  beforeEach(({ task, onTestFailed }) => {
    onTestFailed(async () => {
      await screenshot(`FAILED-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`);
      log(`code-server output (tail):\n${codeServer?.proc.output().slice(-4000) ?? ''}`);
      log(`proxy output (tail):\n${proxy?.proc.output().slice(-4000) ?? ''}`);
      if (pageErrors.length) log(`page errors:\n${pageErrors.join('\n')}`);
    });
  });

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await proxy?.proc.stop();
    await codeServer?.proc.stop();
    if (process.env.HITLOOP_E2E_KEEP) log(`kept ${root?.dir}`);
    else root?.remove();
  });

  it('Approve: the card shows the arguments, and the file is written', async () => {
    const args = { path: join(workspace, 'approved.txt'), content: 'approved in the sidebar' };
    const { call, approval } = await proposed(args);
    const { frame, item } = await card(approval.id);
    expect(await item.innerText()).toContain('write_file');
    await screenshot('approve-card-in-list');
    const scope = await openCard(frame, item, approval.id);

    const shown = await argsText(frame, scope, args.content);
    expect(shown).toContain(args.path);
    expect(shown).toContain(args.content);
    expect(existsSync(args.path)).toBe(false);
    await screenshot('approve-detail');

    await (await control(frame, scope, 'approve-button')).click();
    const result = await call;
    expect(result.isError ?? false, resultText(result)).toBe(false);
    expect(readFileSync(args.path, 'utf8')).toBe(args.content);
    await waitGone(frame, approval.id);
    await screenshot('approved');
  });

  it('Reject with a reason: the agent is told it did not run and why; the file is untouched', async () => {
    const target = join(workspace, 'keep.txt');
    writeFileSync(target, 'original content\n');
    const reason = 'e2e: this file must stay as it is';
    const args = { path: target, content: 'must never be written' };
    const { call, approval } = await proposed(args);
    const { frame, item } = await card(approval.id);
    const scope = await openCard(frame, item, approval.id);
    expect(await argsText(frame, scope, args.content)).toContain(args.content);
    await reject(frame, scope, reason, 'reject-reason');

    const result = await call;
    const text = resultText(result);
    expect(result.isError, text).toBe(true);
    expect(text).toMatch(/not executed/i);
    expect(text).toContain(reason);
    expect(readFileSync(target, 'utf8')).toBe('original content\n');
    await waitGone(frame, approval.id);
    await screenshot('rejected');
  });

  it('Edit, then approve: the edited content is what gets written', async () => {
    const args = { path: join(workspace, 'edited.txt'), content: 'the agent proposal' };
    const edited = 'edited by the reviewer';
    const { call, approval } = await proposed(args);
    const { frame, item } = await card(approval.id);
    const scope = await openCard(frame, item, approval.id);
    await argsText(frame, scope, args.content);

    await (await control(frame, scope, 'edit-button')).click();
    const editor = await control(frame, scope, 'edit-textarea');
    await editor.waitFor({ state: 'visible', timeout: 10_000 });
    const current = await editor.inputValue();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(current) as Record<string, unknown>;
    } catch {
      throw new Error(`the edit textarea does not hold the arguments as JSON: ${current}`);
    }
    expect(parsed).toEqual(args);
    await editor.fill(JSON.stringify({ ...parsed, content: edited }, null, 2));
    await screenshot('edit');
    await (await control(frame, scope, 'edit-save')).click();

    // Save may approve at once, or keep the card for an explicit Approve.
    const settled = await Promise.race([
      call.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5_000)),
    ]);
    if (!settled) {
      const approve = await control(frame, scope, 'approve-button');
      await approve.click();
    }
    const result = await call;
    expect(result.isError ?? false, resultText(result)).toBe(false);
    expect(readFileSync(args.path, 'utf8')).toBe(edited);
    await waitGone(frame, approval.id);
    await screenshot('edited-approved');
  });

  it('hostile arguments render as inert, visible text', async () => {
    const html = '<img src=x onerror=alert(1)>';
    const script = '</script><script>alert(2)</script>';
    const rlo = '\u202E';
    const args = {
      path: join(workspace, `hostile-${html}.txt`),
      content: `${html}\n${script}\ninvoice${rlo}fdp.exe`,
    };
    const { call, approval } = await proposed(args);
    const { frame, item } = await card(approval.id);
    const scope = await openCard(frame, item, approval.id);
    const shown = await argsText(frame, scope, 'invoice');
    // Give an injected handler every chance to fire.
    await page.waitForTimeout(1_500);
    await screenshot('hostile-arguments');

    if (dialogs.length || reports.length) {
      log(
        `dialogs: ${JSON.stringify(dialogs)}\nframe reports: ${JSON.stringify(reports, null, 1)}`,
      );
    }
    for (const f of page.frames()) {
      if (f.isDetached()) continue;
      const injected = await f
        .evaluate<{ imgs: number; scripts: number }>(INJECTED_ELEMENTS)
        .catch(() => ({ imgs: 0, scripts: 0 }));
      expect(injected, `injected elements in ${f.url()}`).toEqual({ imgs: 0, scripts: 0 });
    }
    expect(dialogs).toEqual([]);
    expect(reports.filter((r) => r.kind !== 'csp')).toEqual([]);
    const injectedCsp = reports.filter(
      // A blocked inline script or handler means markup was injected, even though
      // the CSP stopped it; the webview's own scripts carry a nonce.
      (r) =>
        r.kind === 'csp' &&
        (/^script-src/.test(r.detail) ||
          /alert\(/.test(r.detail) ||
          /blocked=\S*\/x\b/.test(r.detail)),
    );
    expect(injectedCsp).toEqual([]);
    const otherCsp = reports.filter((r) => r.kind === 'csp' && !injectedCsp.includes(r));
    if (otherCsp.length)
      log(`CSP violations unrelated to the payload:\n${JSON.stringify(otherCsp)}`);

    // Inert, and also visible: the reviewer sees exactly what the agent sent.
    expect(shown).toContain(html);
    expect(shown).toContain('</script>');
    expect(shown).toContain('<script>alert(2)</script>');
    // The right-to-left override is shown as a marker, never applied.
    expect(shown).not.toContain(rlo);
    expect(shown).toMatch(/U\+202E|\\u202e/i);

    // Clean up through the sidebar too: reject it.
    await reject(frame, scope, 'hostile payload');
    const result = await call;
    expect(result.isError).toBe(true);
    expect(existsSync(args.path)).toBe(false);
  });
});
