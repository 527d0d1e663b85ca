import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { discoverHubs } from '../../shared/hub/index.js';
import {
  ARTIFACTS,
  answerDialog,
  type CodeServer,
  closeQuickInput,
  codeServerNode,
  FILESYSTEM,
  findWebviewFrame,
  isolatedEnv,
  launchBrowser,
  log,
  openActivityView,
  openDialog,
  openWorkbench,
  pickQuickRow,
  quickPickRows,
  ROOT,
  runCommand,
  startCodeServer,
  tempRoot,
} from './harness.js';
import {
  argsText,
  card,
  control,
  openCard,
  pendingApproval,
  rejectCard,
  SIDEBAR_READY,
  waitGone,
} from './sidebar-driver.js';

// hitloop as a VS Code user gets it: the VSIX installed into a current VS Code
// (code-server 4.139.1) with an empty HOME and no Node on PATH, a workspace
// whose .vscode/hitloop.json lists server-filesystem, and nothing else. The
// extension's MCP server definition provider offers that server through
// hitloop; VS Code lists it and starts it; VS Code's own MCP client calls its
// write_file (asked for by a test-only extension with vscode.lm.invokeTool, as
// agent mode would); the call waits in the hitloop sidebar; Approve writes the
// file, Reject leaves it untouched.
//
// How the proxy starts (HITLOOP_E2E_LAUNCHER):
//   vsix      no hitloop setting: the extension starts the proxy it carries,
//             with VS Code's own runtime (the "VSIX alone").
//   explicit  hitloop.proxyLauncher = [this machine's node, dist/cli/main.js]
//             (a checkout's build): for a VSIX that does not carry the proxy.
const LAUNCHER = process.env.HITLOOP_E2E_LAUNCHER ?? 'vsix';
if (LAUNCHER !== 'vsix' && LAUNCHER !== 'explicit') {
  throw new Error(`HITLOOP_E2E_LAUNCHER=${LAUNCHER}: expected vsix or explicit`);
}

const LIGHT = 'Light 2026';
const DARK = 'Dark 2026';

interface Caller {
  port: number;
  token: string;
  execPath: string;
}

interface ToolInfo {
  name: string;
  description: string;
  tags: string[];
}

type InvokeResult = { ok: true; texts: string[] } | { ok: false; error: string };

let root: ReturnType<typeof tempRoot>;
let workspace: string;
let home: string;
let hitloopHome: string;
let callerFile: string;
let codeServer: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page;
let writeTool: string;
let shot = 0;
const pageErrors: string[] = [];

async function screenshot(name: string): Promise<string> {
  shot += 1;
  const file = join(ARTIFACTS, `vscode-mcp-${String(shot).padStart(2, '0')}-${name}.png`);
  await page
    .screenshot({ path: file })
    .catch((err: Error) => log(`screenshot failed: ${err.message}`));
  log(`screenshot ${file}`);
  return file;
}

/** The side bar alone (the hitloop view), at the size VS Code gives it. */
async function sidebarShot(name: string): Promise<void> {
  shot += 1;
  const file = join(ARTIFACTS, `vscode-mcp-${String(shot).padStart(2, '0')}-${name}.png`);
  await page
    .locator('.part.sidebar')
    .screenshot({ path: file })
    .catch((err: Error) => log(`screenshot failed: ${err.message}`));
  log(`screenshot ${file}`);
}

/** The test extension's control endpoint, once it has activated. */
async function caller(timeoutMs = 60_000): Promise<Caller> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(callerFile)) {
    if (Date.now() > deadline) {
      throw new Error(
        `the test extension (lm-tool-caller) did not write ${callerFile} within ${timeoutMs} ms: did it install and activate?`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return JSON.parse(readFileSync(callerFile, 'utf8')) as Caller;
}

async function callerRequest<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const c = await caller();
  const res = await fetch(`http://127.0.0.1:${c.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(170_000),
  });
  if (!res.ok) throw new Error(`test extension: ${method} ${path} -> HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** VS Code's language-model tools, as an extension sees them (`vscode.lm.tools`). */
function lmTools(): Promise<ToolInfo[]> {
  return callerRequest<ToolInfo[]>('GET', '/tools');
}

/**
 * Asks VS Code to run `write_file` with `vscode.lm.invokeTool`; VS Code's MCP
 * client sends the tools/call to the server the provider defined.
 */
function invokeWrite(input: { path: string; content: string }): Promise<InvokeResult> {
  const call = callerRequest<InvokeResult>('POST', '/invoke', { name: writeTool, input });
  call.catch(() => undefined);
  return call;
}

/**
 * VS Code confirms a tool call from outside a chat request with a modal
 * dialog of its own ("Run …?"): the first of the two confirmations the issue
 * mentions. The test answers it the way a user would, after a screenshot.
 */
async function confirmVsCodeRun(shotName: string): Promise<string> {
  const dialog = await answerDialog(page, /^(Allow|Run|Continue|Yes|OK)\b/i, 30_000, async () => {
    await screenshot(shotName);
  });
  log(`VS Code's own confirmation: ${JSON.stringify(dialog)}`);
  return dialog.message;
}

/**
 * Switches the color theme the way a user does (Preferences: Color Theme),
 * then waits until the workbench has repainted dark: the theme class comes
 * before the theme's colors.
 */
async function setColorTheme(theme: string): Promise<void> {
  await runCommand(page, 'Preferences: Color Theme');
  await pickQuickRow(page, new RegExp(`^${theme}\\b`));
  // Browser code, as a string (no DOM types here): the side bar's background
  // is dark once its perceived brightness is under a third.
  await page.waitForFunction(
    `(() => {
      const bar = document.querySelector('.part.sidebar');
      const m = bar && getComputedStyle(bar).backgroundColor.match(/\\d+/g);
      if (!m) return false;
      const [r, g, b] = m.map(Number);
      return document.querySelector('.monaco-workbench').classList.contains('vs-dark') &&
        (0.299 * r + 0.587 * g + 0.114 * b) / 255 < 0.33;
    })()`,
    undefined,
    { timeout: 30_000 },
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Shows the hitloop sidebar and returns the card of the pending call for `path`. */
async function pendingCard(path: string, content: string) {
  const approval = await pendingApproval(
    hitloopHome,
    (a) => a.args.path === path && a.args.content === content,
    60_000,
  );
  expect(approval.tool).toMatch(/write_file$/);
  await openActivityView(page, codeServer!.manifest);
  const { frame, item } = await card(page, approval.id);
  const scope = await openCard(frame, item, approval.id);
  const shown = await argsText(frame, scope, content);
  expect(shown).toContain(path);
  expect(shown).toContain(content);
  return { approval, frame, scope };
}

/** Waits until the sidebar webview's body carries VS Code's theme-kind class (`vscode-dark`, …). */
async function expectWebviewTheme(frame: Frame, kind: 'vscode-light' | 'vscode-dark') {
  await frame.waitForFunction(`document.body.classList.contains('${kind}')`, undefined, {
    timeout: 15_000,
  });
}

/**
 * Logs what overflows sideways in the sidebar webview (the issue saw a
 * horizontal scrollbar on 1.139: a 286 px tab row in a 282 px view).
 */
async function logSidebarOverflow(label: string): Promise<void> {
  const frame = await findWebviewFrame(page, SIDEBAR_READY, 10_000).catch(() => undefined);
  if (!frame) return;
  // Browser code, as a string: this file is type-checked without the DOM library.
  const report = await frame
    .evaluate<string>(
      `(() => {
        const view = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')]
          .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
          .map((e) => (e.getAttribute('data-testid') || e.className || e.tagName) + ' ' + e.scrollWidth + '/' + e.clientWidth);
        return 'view ' + view + ' px, page ' + document.documentElement.scrollWidth + ' px' +
          (wide.length ? '; scrolling sideways: ' + wide.join(', ') : '; nothing scrolls sideways');
      })()`,
    )
    .catch((err: Error) => `not measured: ${err.message}`);
  log(`sidebar (${label}): ${report}`);
}

describe(`VS Code's own MCP client through hitloop (code-server, launcher: ${LAUNCHER})`, () => {
  beforeAll(async () => {
    const t0 = Date.now();
    root = tempRoot();
    workspace = join(root.dir, 'workspace');
    callerFile = join(root.dir, 'caller.json');
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    // Everything the editor process gets: an empty HOME, a PATH without node
    // or hitloop, and where the test extension says which port it listens on.
    const isolated = isolatedEnv(root.dir, { HITLOOP_E2E_CALLER_FILE: callerFile });
    const env = isolated.env;
    home = isolated.home;
    hitloopHome = join(home, '.hitloop');

    // The user's server is theirs to start: by absolute path, since PATH has
    // no node. hitloop is what the extension must bring.
    writeFileSync(
      join(workspace, '.vscode', 'hitloop.json'),
      JSON.stringify(
        {
          servers: { files: { command: process.execPath, args: [FILESYSTEM, workspace] } },
          policy: {
            type: 'rules',
            default: 'ask',
            rules: [{ tool: ['read_*', 'list_*'], effect: 'allow' }],
          },
        },
        null,
        2,
      ),
    );

    const settings: Record<string, unknown> = {
      'workbench.colorTheme': LIGHT,
      // The test starts the server itself, through "MCP: List Servers".
      'chat.mcp.autostart': 'never',
    };
    if (LAUNCHER === 'explicit') {
      settings['hitloop.proxyLauncher'] = [process.execPath, join(ROOT, 'dist/cli/main.js')];
    }
    codeServer = await startCodeServer({
      vsix: [inject('vsix'), inject('callerVsix')],
      root: root.dir,
      workspace,
      env,
      isolated: true,
      settings,
    });

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await openWorkbench(page, codeServer.url);
    const c = await caller(90_000);
    log(`the test extension runs in an extension host on ${c.execPath}`);
    log(`ready in ${Date.now() - t0} ms`);
  });

  beforeEach(({ task, onTestFailed }) => {
    onTestFailed(async () => {
      const dialog = await openDialog(page).catch(() => undefined);
      if (dialog) log(`open dialog: ${JSON.stringify(dialog)}`);
      await screenshot(`FAILED-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`);
      log(`code-server output (tail):\n${codeServer?.proc.output().slice(-6000) ?? ''}`);
      if (pageErrors.length) log(`page errors:\n${pageErrors.slice(-20).join('\n')}`);
    });
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await codeServer?.proc.stop();
    if (process.env.HITLOOP_E2E_KEEP) log(`kept ${root?.dir}`);
    else root?.remove();
  });

  it('the extension host has an empty HOME and no node or hitloop on its PATH', async () => {
    const env = await callerRequest<{ execPath: string; PATH: string; HOME: string }>(
      'GET',
      '/env',
    );
    log(`extension host: ${JSON.stringify(env)}`);
    expect(env.HOME).toBe(home);
    const found = env.PATH.split(delimiter).flatMap((dir) =>
      ['node', 'hitloop', 'npx'].map((name) => join(dir, name)).filter((f) => existsSync(f)),
    );
    expect(found, `PATH ${env.PATH}`).toEqual([]);
    // VS Code's own runtime: the Node 24 that runs code-server.
    expect(env.execPath).toBe(codeServerNode());
    // Nothing but what VS Code and the extensions wrote: no hitloop install.
    expect(
      readdirSync(home).filter((n) => !['.config', '.local', '.cache', '.hitloop'].includes(n)),
    ).toEqual([]);
  });

  it("the provider's server appears in MCP: List Servers", async () => {
    await runCommand(page, 'MCP: List Servers');
    const deadline = Date.now() + 60_000;
    let rows = await quickPickRows(page);
    while (!rows.some((r) => /hitloop/i.test(r)) && Date.now() < deadline) {
      await page.waitForTimeout(500);
      rows = await quickPickRows(page);
    }
    log(`MCP: List Servers shows ${JSON.stringify(rows)}`);
    await screenshot('mcp-list-servers');
    expect(rows.some((r) => /hitloop/i.test(r))).toBe(true);
    await closeQuickInput(page);
  });

  it('VS Code starts it, and its tools become language-model tools', async () => {
    await runCommand(page, 'MCP: List Servers');
    await pickQuickRow(page, /hitloop/i);
    // The server's actions; "Start Server" while it is stopped.
    await pickQuickRow(page, /^Start Server/i);
    const deadline = Date.now() + 90_000;
    let tools: ToolInfo[] = [];
    for (;;) {
      // A trust prompt for a server an extension defines, in some versions.
      const dialog = await openDialog(page);
      if (dialog) {
        log(`dialog while starting: ${JSON.stringify(dialog)}`);
        await answerDialog(page, /^(Trust|Allow|Start|Run|Continue|Yes)\b/i, 5_000);
      }
      tools = await lmTools();
      const found = tools.filter((t) => t.name.endsWith('write_file'));
      if (found.length === 1) {
        writeTool = found[0]!.name;
        break;
      }
      if (found.length > 1) {
        throw new Error(`several write_file tools: ${found.map((t) => t.name).join(', ')}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no write_file among VS Code's language-model tools 90 s after Start Server: ${tools.map((t) => t.name).join(', ')}`,
        );
      }
      await page.waitForTimeout(500);
    }
    const mcpTools = tools.filter((t) => t.name.startsWith('mcp_')).map((t) => t.name);
    log(`VS Code names the gated tools: ${mcpTools.join(', ')}`);
    await screenshot('server-started');
    expect(mcpTools).toContain(writeTool);

    // Which hitloop VS Code started: the proxy announces its hub (with its pid)
    // under HOME/.hitloop; its command line says what runs it.
    const hubs = discoverHubs(hitloopHome);
    expect(hubs, `hubs announced under ${hitloopHome}`).toHaveLength(1);
    const argv = readFileSync(`/proc/${hubs[0]!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    log(`the proxy VS Code started: ${JSON.stringify(argv)}`);
    if (LAUNCHER === 'vsix') {
      // VS Code's own runtime, running the proxy the installed VSIX carries.
      expect(argv[0]).toBe(codeServerNode());
      expect(argv[1]).toMatch(
        new RegExp(`^${escapeRegExp(codeServer!.extensionsDir)}/hitloop\\.hitloop-[^/]+/`),
      );
    } else {
      expect(argv.slice(0, 2)).toEqual([process.execPath, join(ROOT, 'dist/cli/main.js')]);
    }
    expect(argv).toContain('proxy');
  });

  it("Approve: VS Code's call waits in the sidebar, then writes the file (light theme)", async () => {
    expect(writeTool, 'the previous test found the tool').toBeTruthy();
    const args = { path: join(workspace, 'approved.txt'), content: 'written after approval' };
    const result = invokeWrite(args);
    const question = await confirmVsCodeRun('vscode-confirms-approve');
    // VS Code names the tool by its title ("Write File") when the server gives one.
    expect(question).toMatch(/Write File|write_file/);

    const { frame, scope, approval } = await pendingCard(args.path, args.content);
    expect(existsSync(args.path)).toBe(false);
    await expectWebviewTheme(frame, 'vscode-light');
    await logSidebarOverflow('light');
    await screenshot('pending-light');
    await sidebarShot('sidebar-pending-light');

    await (await control(frame, scope, 'approve-button')).click();
    const outcome = await result;
    log(`invokeTool after Approve: ${JSON.stringify(outcome)}`);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    expect(readFileSync(args.path, 'utf8')).toBe(args.content);
    await waitGone(frame, approval.id);
    await screenshot('approved-light');
  });

  it('Reject: the file stays untouched, and VS Code is told it did not run (dark theme)', async () => {
    expect(writeTool, 'an earlier test found the tool').toBeTruthy();
    await setColorTheme(DARK);
    const target = join(workspace, 'keep.txt');
    writeFileSync(target, 'original content\n');
    const args = { path: target, content: 'must never be written' };
    const reason = 'e2e: keep.txt stays as it is';
    const result = invokeWrite(args);
    await confirmVsCodeRun('vscode-confirms-reject');

    const { frame, scope, approval } = await pendingCard(args.path, args.content);
    await expectWebviewTheme(frame, 'vscode-dark');
    await logSidebarOverflow('dark');
    await screenshot('pending-dark');
    await sidebarShot('sidebar-pending-dark');
    await rejectCard(frame, scope, reason, async () => {
      await screenshot('reject-reason-dark');
    });

    const outcome = await result;
    log(`invokeTool after Reject: ${JSON.stringify(outcome)}`);
    const text = outcome.ok ? outcome.texts.join('\n') : outcome.error;
    expect(text).toMatch(/not executed/i);
    expect(text).toContain(reason);
    expect(readFileSync(target, 'utf8')).toBe('original content\n');
    await waitGone(frame, approval.id);
    await screenshot('rejected-dark');
  });
});
